"""Rewrite the generated tables of data_cards/mom-mini.md from the protocol, ATTRIBUTION.csv, VOCALS.csv and the
source's own split plan, so that the card cannot drift from what `mom-bench build` makes.

    python scripts/write_mom_mini_card_tables.py          # rewrite in place
    python scripts/write_mom_mini_card_tables.py --check  # exit 1 if the card is out of date

Each table sits between ``<!-- table:NAME -->`` and ``<!-- /table -->``; the prose around them is the card's own.
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "data_cards" / "mom-mini.md"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def tables() -> dict[str, str]:
    from mom_bench.core.splits import SPLITS
    from mom_bench.dataset import protocols
    from mom_bench.dataset.mini.vocals import stems
    from mom_bench.dataset.sources.mom_mini import MomMiniSource

    protocol = protocols.load("mom-mini")
    source = MomMiniSource(protocol, {k: v for k, v in protocol.source.items() if k != "kind"})
    plans = source.plan()
    out: dict[str, str] = {}

    counts: dict[str, Counter] = defaultdict(Counter)
    for p in plans:
        counts[p.split][p.generator or "real"] += 1
    lines = ["| split | generator | rows |", "|---|---|---|"]
    for split in SPLITS:
        for gen, n in counts[split].items():
            lines.append(f"| {split} | {gen} | {n} |")
    total = sum(sum(c.values()) for c in counts.values())
    reals = sum(c["real"] for c in counts.values())
    lines.append("")
    lines.append(f"Total {total} clips ({reals} real, {total - reals} fake), {source.clip_seconds:g} s each, mono "
                 f"16-bit FLAC at {protocol.sample_rate // 1000} kHz.")
    out["composition"] = "\n".join(lines)

    lines = ["| split | tracks | real clips | pools (clips) | artists |", "|---|---|---|---|---|"]
    for split in SPLITS:
        mine = [p.excerpt for p in plans if p.split == split and p.generator is None]
        pools = Counter(e.pool for e in mine)
        lines.append(f"| {split} | {len({e.track_id for e in mine})} | {len(mine)} | "
                     + ", ".join(f"{k} {v}" for k, v in sorted(pools.items()))
                     + f" | {len({e.author for e in mine})} |")
    out["splits"] = "\n".join(lines)

    lines = ["| id | decoder family | role | mechanism | stands for |", "|---|---|---|---|---|"]
    for g in protocol.generators:
        role = "held out (test_ood only)" if g.is_ood else "train (ID)"
        stands = "; ".join(g.extra.get("stands_for") or [])
        lines.append(f"| `{g.id}` | {g.extra.get('decoder_family', g.family)} | {role} | {_cell(g.name)} | "
                     f"{_cell(stands)} |")
    out["generators"] = "\n".join(lines)

    split_of = source.split_of_track()
    seen: dict[str, object] = {}
    for e in sorted((p.excerpt for p in plans if p.generator is None), key=lambda e: e.track_id):
        seen.setdefault(e.track_id, e)
    lines = ["| track | split | pool | title | author | genre | vocals | licence | source |",
             "|---|---|---|---|---|---|---|---|---|"]
    for tid, e in seen.items():
        lines.append(f"| `{tid}` | {split_of[tid]} | {e.pool} | {_cell(e.title)} | {_cell(e.author)} | "
                     f"{_cell(e.genre)} | {'yes' if e.vocals else 'no'} | {_cell(e.license)} | "
                     f"{_cell(e.package)} {_cell(e.package_version)} |")
    out["tracks"] = "\n".join(lines)

    fam = source.family("machine_vocals")
    lines = ["| split | stems |", "|---|---|"]
    for split in SPLITS:
        lines.append(f"| {split} | {', '.join(source.stems_of(fam, split))} |")
    n = len(stems())
    lines.append("")
    lines.append(f"{n} stems in all (`mom_bench/data/mom_mini/vocals/VOCALS.csv`).")
    out["stems"] = "\n".join(lines)
    return out


def render(text: str, parts: dict[str, str]) -> str:
    for name, body in parts.items():
        # the block's content: anything up to the first end marker (never across it)
        pattern = re.compile(rf"(<!-- table:{name} -->\n)(?:(?!<!-- /table -->).)*(<!-- /table -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{CARD}: no <!-- table:{name} --> ... <!-- /table --> block")
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when the card is out of date")
    opts = parser.parse_args()
    old = CARD.read_text(encoding="utf-8")
    new = render(old, tables())
    if opts.check:
        if new != old:
            print(f"{CARD} is out of date: run python scripts/write_mom_mini_card_tables.py")
            return 1
        return 0
    CARD.write_text(new, encoding="utf-8")
    print(f"wrote {CARD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
