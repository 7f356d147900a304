"""Test-time search on the benchmark: every strategy at every N from one recorded pool of candidates.

For each benchmark prompt and output image j, `--pool` candidates (seeds
image_seed(seed, i, j * pool + c)) are generated once with every step's
preview scored by the PRM and PARM verifiers and the final image by the ORM
and the evaluator (`imagecot.search.replay.record_candidates`). Strategies
at N <= pool are replayed on the first N candidates — exact, because every
candidate has its own randomness (tests/test_replay.py checks replays equal
the online strategies). PARM++ runs its reflection and corrections online on
the PARM (early-stop) choice. The oracle reads the evaluator: an upper bound.

Prints, for N = pool, the table per task with 95% intervals and compute per
image, and writes `<out>/scaling.json`, `<out>/scaling.md` and `<out>/scaling.png`
(accuracy vs token-forwards per image). Records are cached in `<out>/records/`
so a killed run resumes; processes started side by side on one --out share the
recording (each claims a chunk); `--record-only` helpers exit when nothing is left
to claim, the others wait for every record and write the report.
Usage: python benchmarks/search_scaling.py --generator ar --verifiers runs/verifiers-ar --out runs/scaling-ar
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from imagecot.evaluation.geneval import paired_difference, paired_text, summarize, task_order
from imagecot.generators.autocast import bf16_autocast
from imagecot.io_utils import atomic_write_json, atomic_write_text
from imagecot.report.figures import STRATEGY_LABELS as LABELS
from imagecot.report.figures import save_png, scaling_figure
from imagecot.search.parm import clarity_gate, gate
from imagecot.search.replay import (
    Record,
    load_records,
    pool_auc,
    pool_auc_by_step,
    record_candidates,
    replay,
    replay_parm_plus_plus,
    rescore_records,
    save_records,
)
from imagecot.verifiers.oracle import OracleVerifier
from imagecot.verifiers.prompts import training_specs
from imagecot.world.benchmark import load_benchmark
from imagecot.zoo import default_sampling, load_generator, load_verifier

STRATEGIES = tuple(LABELS)


def claim(path: Path):
    """An exclusive lock on `<record>.claim` so that several processes can record one --out side by side; the
    kernel drops it when its process dies (a killed run resumes). -> the open file to close when the record is
    saved, or None if another process holds it."""
    import fcntl
    f = open(path.with_suffix(".claim"), "a")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", choices=("ar", "var", "maskgit"), default="ar")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--verifiers", type=Path, default=None,
                    help="a verifier (checkpoint or training run: one network for every role) or a folder with orm/, "
                         "prm/, parm/ ones (default: the zoo's verifier-<gen>)")
    ap.add_argument("--pool", type=int, default=20)
    ap.add_argument("--ns", type=int, nargs="+", default=[1, 2, 4, 8, 16, 20])
    ap.add_argument("--images-per-prompt", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3, help="PARM++ reflection rounds")
    ap.add_argument("--parm-plus-plus-ns", type=int, nargs="+", default=None,
                    help="the Ns at which PARM++ runs its (online, costly) corrections (default: every --ns)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N prompts (smoke tests)")
    ap.add_argument("--batch-size", type=int, default=80, help="candidate rows per session")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--record-only", action="store_true",
                    help="help another process record its --out: record unclaimed chunks, then exit (no report)")
    ap.add_argument("--bf16", action="store_true",
                    help="the generator's network under bfloat16 autocast (verifiers stay float32); MaskGIT ~1.9x")
    ap.add_argument("--rescore-from", type=Path, default=None,
                    help="another --out recorded with the same generator, pool and seed: score its candidates with "
                         "these --verifiers instead of sampling them again (records keep their previews' token "
                         "maps; AR records from before that rebuild them from the final tokens; VAR cannot be "
                         "rescored)")
    ap.add_argument("--rescore-finals", action="store_true",
                    help="with --rescore-from: rescore only the final images, keeping the recorded preview scores; "
                         "each process first rescores one chunk in full and stops unless its preview scores equal "
                         "the recorded ones (a verifier config that changes only final verdicts, e.g. "
                         "count_verdict_on_previews false)")
    ap.add_argument("--parm-wave", type=float, nargs="+", default=None, metavar="W S [K]",
                    help="also replay PARM in waves of W candidates until K (default 1) final potentials >= S "
                         "(parm_wave); W, S and K come from benchmarks/choose_parm_waves.py on a --validation pool, "
                         "never the benchmark")
    ap.add_argument("--parm-gate", type=float, default=None, metavar="G",
                    help="PARM's 'yes' at a potential >= G instead of the verifier's own parm_threshold (the ladder's "
                         "rungs take the full verifier's gate, chosen on validation prompts)")
    ap.add_argument("--parm-clarity", type=float, default=None, metavar="C",
                    help="PARM judges a preview clear at a clarity >= C instead of the verifier's own parm_clarity "
                         "(likewise the ladder's rungs)")
    ap.add_argument("--validation", type=int, default=0, metavar="P",
                    help="P validation prompts from the training grammar (training_specs(P, seed=--val-seed): no "
                         "excluded benchmark string) instead of the benchmark, to choose search settings on; "
                         "use another --seed than the benchmark runs'")
    ap.add_argument("--val-seed", type=int, default=777)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    if a.validation and a.seed == 0:
        ap.error("--validation needs a --seed other than the benchmark runs' 0 (its candidates' seeds)")
    torch.set_num_threads(a.threads)
    from imagecot import distributed
    distributed.init()   # under torchrun every rank claims chunks; rank 0 alone waits for all and writes the report
    a.record_only = a.record_only or not distributed.is_main()
    if max(a.ns) > a.pool:
        ap.error(f"N up to {max(a.ns)} needs --pool >= {max(a.ns)}")
    table_n = a.pool if a.pool in a.ns else max(a.ns)
    if a.parm_plus_plus_ns is not None and table_n not in a.parm_plus_plus_ns:
        ap.error(f"--parm-plus-plus-ns must include the table's N = {table_n}")
    gen = load_generator(a.generator, a.checkpoint, a.tokenizer)
    if a.bf16:
        bf16_autocast(gen.model)
    sampling = default_sampling(a.checkpoint, a.generator)
    verifiers = {role: load_verifier(role, a.verifiers, generator=a.generator) for role in ("orm", "prm", "parm")}
    oracle = OracleVerifier()
    specs = training_specs(a.validation, seed=a.val_seed) if a.validation else load_benchmark()
    specs = specs[:a.limit] if a.limit else specs
    (a.out / "records").mkdir(parents=True, exist_ok=True)
    setup = {k: str(v) for k, v in vars(a).items() if k in ("generator", "checkpoint", "tokenizer", "verifiers",
                                                             "pool", "batch_size", "seed")}
    if a.validation:
        setup["prompts"] = f"validation: training_specs({a.validation}, seed={a.val_seed})"
    if a.bf16:
        setup["bf16"] = "True"
    if a.rescore_from:
        source = json.loads((a.rescore_from / "records" / "setup.json").read_text())
        differ = {k: (source.get(k), v) for k, v in setup.items()   # (rescoring never runs the generator's net)
                  if k not in ("verifiers", "bf16") and source.get(k) != v}
        if differ:
            raise SystemExit(f"--rescore-from {a.rescore_from} was recorded with another setup (theirs, ours): "
                             f"{differ}")
        setup["rescored_from"] = str(a.rescore_from)
    setup_file = a.out / "records" / "setup.json"
    if setup_file.is_file() and json.loads(setup_file.read_text()) != setup:
        raise SystemExit(f"{a.out}/records were recorded with {setup_file.read_text()}, not {setup}: "
                         "use another --out (records are reused only for the same setup)")
    atomic_write_json(setup_file, setup)
    if a.rescore_finals and not a.rescore_from:
        raise SystemExit("--rescore-finals rescores records: give --rescore-from too")
    previews_checked = False
    per_chunk = max(1, a.batch_size // a.pool)
    records: dict[tuple[int, int], Record] = {}
    t0 = time.time()
    pending = [(start, j) for start in range(0, len(specs), per_chunk) for j in range(a.images_per_prompt)]
    while pending:
        for start, j in list(pending):
            ids = list(range(start, min(start + per_chunk, len(specs))))
            path = a.out / "records" / f"{start:05d}-{j}.npz"
            if not path.is_file():
                lock = claim(path)
                if lock is None:
                    continue   # another process is recording it
                with lock:
                    if not path.is_file():   # (it may have been saved while we waited for the lock)
                        prompts = [specs[i]["prompt"] for i in ids]
                        if a.rescore_from:
                            source = a.rescore_from / "records" / path.name
                            if not source.is_file():
                                raise SystemExit(f"{source} is missing: record {a.rescore_from} first")
                            recorded = load_records(source)
                            if a.rescore_finals and not previews_checked:
                                check_previews_unchanged(
                                    recorded, rescore_records(gen, recorded, prompts, verifiers["orm"],
                                                              verifiers["prm"], verifiers["parm"]), source)
                                previews_checked = True
                            recs = rescore_records(gen, recorded, prompts, verifiers["orm"], verifiers["prm"],
                                                   verifiers["parm"], finals_only=a.rescore_finals)
                        else:
                            recs = record_candidates(gen, prompts, a.pool, verifiers["orm"], verifiers["prm"],
                                                     verifiers["parm"], oracle, sampling, a.seed, j, ids)
                        save_records(path, recs)
                        if a.record_only:
                            print(f"recorded {path.name} ({time.time() - t0:.0f}s)", flush=True)
            pending.remove((start, j))
            if a.record_only:
                continue
            recs = load_records(path)
            if len(recs) != len(ids):
                raise SystemExit(f"{path} holds {len(recs)} prompts, not {len(ids)}: it was recorded by a --limit run; "
                                 "use another --out")
            for i, r in zip(ids, recs):
                records[(i, j)] = r
            print(f"recorded {len(records)} / {len(specs) * a.images_per_prompt} images "
                  f"({time.time() - t0:.0f}s)", flush=True)
        if a.record_only:
            print(f"nothing left to claim: {len(pending)} chunks are other processes'; they write the report")
            return
        if pending:
            time.sleep(10)   # wait for the other processes' records (a dead one's lock is free again)
    keys = sorted(records)
    recs = [records[k] for k in keys]
    # finished rows, per image set and PARM++ rounds: a killed run resumes, a larger run starts its own rows
    results_file = a.out / (f"results-rounds{a.rounds}-images{a.images_per_prompt}"
                            + (f"-limit{a.limit}" if a.limit else "") + ".json")
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    pp_ns = a.ns if a.parm_plus_plus_ns is None else a.parm_plus_plus_ns
    if a.parm_wave and len(a.parm_wave) not in (2, 3):
        raise SystemExit(f"--parm-wave takes W S or W S K (wave size, stop at, confident yeses), got {a.parm_wave}")
    wave_opts = ({"wave": int(a.parm_wave[0]), "stop_at": a.parm_wave[1],
                  "stop_yeses": int(a.parm_wave[2]) if len(a.parm_wave) == 3 else 1} if a.parm_wave else None)
    # PARM's yes/no cut (the verifier's own, validation-chosen, or --parm-gate) and its clarity judgment's
    gate_opts = {"threshold": gate(verifiers["parm"]) if a.parm_gate is None else a.parm_gate,
                 "clarity": clarity_gate(verifiers["parm"]) if a.parm_clarity is None else a.parm_clarity}
    if any((r.get("threshold", 0.5), r.get("clarity", 0.5)) != (gate_opts["threshold"], gate_opts["clarity"])
           for r in results.values() if r["strategy"].startswith("parm")):
        raise SystemExit(f"{results_file} holds rows replayed with another PARM gate or clarity than this verifier's "
                         f"{gate_opts['threshold']}, {gate_opts['clarity']}: use another --out")
    if wave_opts:   # the settings are part of the row: a rerun with others must not reuse it
        stale = [k for k, r in results.items() if r["strategy"] == "parm_wave" and r.get("options") != wave_opts]
        for k in stale:
            del results[k]
    for strategy in (s for s in STRATEGIES if s != "parm_wave" or wave_opts):
        for n in ([1] if strategy == "base" else pp_ns if strategy == "parm++" else a.ns):
            if f"{strategy}@{n}" in results:
                continue
            audit = None
            if strategy == "parm++":
                ok, compute, seen, audit = replay_parm_plus_plus(gen, recs, keys, specs, n, verifiers["parm"], oracle,
                                                                 sampling, a.seed, a.rounds, a.pool,
                                                                 **gate_opts)
            else:
                reps = [replay(r, strategy, n, **(wave_opts if strategy == "parm_wave" else {}),
                               **(gate_opts if strategy.startswith("parm") else {})) for r in recs]
                ok, compute = [x.correct for x in reps], [x.compute for x in reps]
                seen = [x.verifier_images for x in reps]
            summ = summarize([{"tag": specs[i]["tag"], "correct": c} for (i, _), c in zip(keys, ok)], n_boot=1000)
            results[f"{strategy}@{n}"] = {"strategy": strategy, "n": n, "overall": summ["overall"],
                                          "compute_per_image": float(np.mean(compute)),
                                          "verifier_images_per_image": float(np.mean(seen)), "tasks": summ["tasks"],
                                          **({"corrections": audit} if audit else {}),
                                          **({"options": wave_opts} if strategy == "parm_wave" else {}),
                                          **(gate_opts if strategy.startswith("parm") else {})}
            atomic_write_json(results_file, results)
            print(f"{LABELS[strategy]:30s} N={n:2d}  overall {summ['overall']['accuracy']:.3f}  "
                  f"compute/image {np.mean(compute):,.0f}  verifier images/image {np.mean(seen):.1f}", flush=True)
    N = table_n
    tags = [specs[i]["tag"] for i, _ in keys]
    ok_orm = [replay(r, "orm", N).correct for r in recs]
    for s in ("prm", "parm"):   # does step-level search beat best-of-N on the same images? a paired interval
        ok = [replay(r, s, N, **(gate_opts if s == "parm" else {})).correct for r in recs]
        results[f"{s}@{N}"]["paired_vs_orm"] = paired_difference(tags, ok, ok_orm)
    atomic_write_json(results_file, results)
    if wave_opts:   # early stopping is judged against the reference on the same images: a paired interval
        ok_wave = [replay(r, "parm_wave", N, **wave_opts, **gate_opts).correct for r in recs]
        results[f"parm_wave@{N}"]["paired_vs_parm"] = paired_difference(
            tags, ok_wave, [replay(r, "parm", N, **gate_opts).correct for r in recs])
        atomic_write_json(results_file, results)
    write_report(a, results, len(keys), pool_auc(recs, keys, specs, gate_opts["clarity"]),
                 pool_auc_by_step(recs))


def check_previews_unchanged(recorded: list[Record], rescored: list[Record], source: Path) -> None:
    """SystemExit unless a full rescore of one chunk gives the recorded preview scores (PRM, clarity, PARM's
    potential at every step before the last): then `--rescore-finals` may keep them for every chunk."""
    for name in ("prm_CT", "clarity_CT", "potential_CT"):
        old = np.concatenate([getattr(r, name)[:, :-1] for r in recorded])
        new = np.concatenate([getattr(r, name)[:, :-1] for r in rescored])
        if not np.allclose(old, new, rtol=0, atol=1e-6):
            raise SystemExit(f"--rescore-finals: these verifiers score {source.name}'s previews otherwise than the "
                             f"records ({name}: max difference {np.abs(old - new).max():.2g}); rescore in full")
    print(f"--rescore-finals: {source.name} rescored in full gives the recorded preview scores; keeping them",
          flush=True)


def _f(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def write_report(a, results: dict, n_images: int, aucs: dict, by_step: dict) -> None:
    N = a.pool if a.pool in a.ns else max(a.ns)   # the table's N
    base = results["base@1"]["overall"]["accuracy"]
    orc = results[f"oracle@{N}"]["overall"]["accuracy"]
    tasks = task_order(results["base@1"]["tasks"])   # whether the rows were computed now or read back
    lines = [f"{a.generator.upper()} generator, {n_images} images ({a.images_per_prompt} per prompt), N = {N}", "",
             "| strategy | overall [95% CI] | " + " | ".join(tasks)
             + " | token-forwards / image | verifier images / image | share of oracle gain |",
             "|---|---|" + "---|" * len(tasks) + "---|---|---|"]
    shown = [s for s in STRATEGIES if f"{s}@{1 if s == 'base' else N}" in results]
    for s in shown:
        r = results[f"{s}@{1 if s == 'base' else N}"]
        o = r["overall"]
        share = "" if s in ("base", "oracle") or orc == base else f"{(o['accuracy'] - base) / (orc - base):.0%}"
        lines.append(f"| {LABELS[s]} | {o['accuracy']:.3f} [{o['ci95'][0]:.3f}, {o['ci95'][1]:.3f}] | "
                     + " | ".join(f"{r['tasks'][t]['accuracy']:.3f}" for t in tasks)
                     + f" | {r['compute_per_image']:,.0f} | {r['verifier_images_per_image']:.1f} | {share} |")
    audit = results[f"parm++@{N}"].get("corrections")
    if audit:
        lines += ["", f"PARM++ at N = {N}: reflection found a flaw in {audit['reflected_on']} chosen images; "
                  f"{audit['corrections_kept']} corrections were kept, of which the evaluator confirms "
                  f"{audit['kept_wrong_to_right']} (wrong to right); {audit['kept_right_to_wrong']} broke a right "
                  f"image, {audit['kept_unchanged_verdict']} left the verdict unchanged."]
    es, ref = results[f"parm_es@{N}"]["compute_per_image"], results[f"parm@{N}"]["compute_per_image"]
    es1 = results[f"parm_es1@{N}"]["compute_per_image"]
    wave = results.get(f"parm_wave@{N}")
    lines += ["", f"PARM early stopping spends {es / ref:.0%} of the reference PARM's compute at N = {N}; keeping one "
              f"'yes' per prompt (max_yes=1), {es1 / ref:.0%}"
              + (f"; in waves of {wave['options']['wave']} until {wave['options'].get('stop_yeses', 1)} final "
                 f"potential(s) >= {wave['options']['stop_at']}, "
                 f"{wave['compute_per_image'] / ref:.0%}, at an accuracy {paired_text(wave['paired_vs_parm'])} "
                 "from the reference's (paired bootstrap)" if wave else "") + f". PARM's gate: 'yes' at a potential >= "
              f"{results[f'parm@{N}'].get('threshold', 0.5)} at the first step of clarity >= "
              f"{results[f'parm@{N}'].get('clarity', 0.5)}."
              + "".join(f" {LABELS[s]} minus ORM on the same images: "
                        f"{paired_text(results[f'{s}@{N}']['paired_vs_orm'], 4)} (paired bootstrap)."
                        for s in ("prm", "parm") if "paired_vs_orm" in results[f"{s}@{N}"]), "",
              "Overall accuracy (token-forwards per image) at each N:", "",
              "| strategy | " + " | ".join(f"N={n}" for n in a.ns) + " |", "|---|" + "---|" * len(a.ns)]
    for s in shown[1:]:
        lines.append(f"| {LABELS[s]} | " + " | ".join(
            f"{results[f'{s}@{n}']['overall']['accuracy']:.3f} ({results[f'{s}@{n}']['compute_per_image']:,.0f})"
            if f"{s}@{n}" in results else "–" for n in a.ns) + " |")
    lines += ["", "Verifier AUC against the evaluator on every recorded candidate (PARM: potential at the first clear "
              "step), pooled over the task and, after the slash, within one image's pool of candidates (mean over the "
              "pools with both outcomes):", "",
              "| task | candidates | share correct | mixed pools | ORM | PRM | PARM | ORM ECE |",
              "|---|---|---|---|---|---|---|---|"]
    for t in [*tasks, "overall"]:
        v = aucs[t]
        lines.append(f"| {t} | {v['candidates']} | {v['positive_rate']:.3f} | {v['mixed_pools']} | "
                     + " | ".join(f"{_f(v[k])} / {_f(v[k + '_within'])}" for k in ("orm", "prm", "parm"))
                     + f" | {_f(v['orm_ece'])} |")
    lines += ["", "Within-pool AUC by step (the step-t preview's score; the last step is the final image):", "",
              "| verifier | " + " | ".join(f"t={t + 1}" for t in range(len(by_step["prm_CT"]))) + " |",
              "|---|" + "---|" * len(by_step["prm_CT"])]
    for name, k in (("PRM", "prm_CT"), ("PARM potential", "potential_CT")):
        lines.append(f"| {name} | " + " | ".join(_f(x) for x in by_step[k]) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    atomic_write_text(a.out / "scaling.md", text)
    atomic_write_json(a.out / "scaling.json", {"results": results, "verifier_auc": aucs,
                                               "within_pool_auc_by_step": by_step, "pool": a.pool, "ns": a.ns,
                                               "images": n_images, "generator": a.generator})
    save_png(scaling_figure(json.loads((a.out / "scaling.json").read_text())), a.out / "scaling.png")


if __name__ == "__main__":
    main()
