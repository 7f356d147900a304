"""Alignment of generators: preference data from their own samples (`preferences`), DPO and iterative DPO (`dpo`),
and DDO against a frozen reference (`ddo`)."""
