"""A dependency-free line plot (PIL): series of (x, y) points on a log2 x axis, with a legend. For scaling curves."""

import math

from PIL import Image, ImageDraw

COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
          (227, 119, 194), (127, 127, 127)]


def line_plot(path, series: dict[str, list[tuple[float, float]]], title: str, xlabel: str, ylabel: str,
              size=(900, 560), log2_x: bool = True, dashed: set[str] = frozenset()) -> None:
    W, H = size
    left, right, top, bottom = 80, 230, 50, 60
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    pts = [p for s in series.values() for p in s]
    fx = (lambda x: math.log2(x)) if log2_x else (lambda x: x)
    x0, x1 = min(fx(p[0]) for p in pts), max(fx(p[0]) for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    pad = 0.05 * (y1 - y0 or 1)
    y0, y1 = max(0.0, y0 - pad), min(1.0, y1 + pad) if y1 <= 1 else y1 + pad
    x1 = x1 if x1 > x0 else x0 + 1

    def px(x, y):
        return (left + (fx(x) - x0) / (x1 - x0) * (W - left - right),
                H - bottom - (y - y0) / (y1 - y0) * (H - top - bottom))

    d.rectangle([left, top, W - right, H - bottom], outline="black")
    for k in range(6):  # y grid and labels
        y = y0 + (y1 - y0) * k / 5
        _, py = px(2 ** x0 if log2_x else x0, y)
        d.line([left, py, W - right, py], fill=(225, 225, 225))
        d.text((left - 45, py - 6), f"{y:.2f}", fill="black")
    xs = sorted({p[0] for p in pts})
    for x in xs:
        qx, _ = px(x, y0)
        d.line([qx, H - bottom, qx, H - bottom + 5], fill="black")
        d.text((qx - 10, H - bottom + 8), f"{x:g}", fill="black")
    for i, (name, s) in enumerate(series.items()):
        c = COLORS[i % len(COLORS)]
        xy = [px(x, y) for x, y in sorted(s)]
        if name in dashed:
            for a, b in zip(xy, xy[1:]):
                for t in range(0, 10, 2):
                    d.line([a[0] + (b[0] - a[0]) * t / 10, a[1] + (b[1] - a[1]) * t / 10,
                            a[0] + (b[0] - a[0]) * (t + 1) / 10, a[1] + (b[1] - a[1]) * (t + 1) / 10], fill=c, width=2)
        elif len(xy) > 1:
            d.line(xy, fill=c, width=2)
        for q in xy:
            d.ellipse([q[0] - 3, q[1] - 3, q[0] + 3, q[1] + 3], fill=c)
        d.line([W - right + 15, top + 20 * i + 8, W - right + 35, top + 20 * i + 8], fill=c, width=3)
        d.text((W - right + 40, top + 20 * i + 2), name, fill="black")
    d.text((left, 15), title, fill="black")
    d.text(((W - right + left) // 2 - 60, H - 25), xlabel, fill="black")
    d.text((5, top - 25), ylabel, fill="black")
    img.save(path)
