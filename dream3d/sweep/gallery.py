"""``index.html``: a static, self-contained results gallery of a sweep.

One card per trial (preview image, turntable video, GLB link, overrides, scores,
status). Inline CSS and JS only: no server, no CDN; it opens from disk (file://).
Cards are rendered here, so the page reads without JS; the script adds a text filter
and sorting by any column. Media are linked by paths relative to the sweep directory.
"""
from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from string import Template
from typing import Any, List

from dream3d.atomic import write_text
from dream3d.sweep.results import TRIALS_DIR, TrialResult, columns, flat_row, json_safe

UNSORTABLE = ("error", "preview", "video", "glb")

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f4f4f5; color: #18181b; }
header { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ddd; padding: 10px 16px; z-index: 1; }
header h1 { font-size: 18px; margin: 0 0 6px; }
.controls { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
.controls input { flex: 1 1 240px; padding: 4px 8px; }
#cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; padding: 16px; }
.card { display: flex; flex-direction: column; background: #fff; border: 1px solid #ddd; border-radius: 8px; overflow: hidden; }
.card[hidden] { display: none; }
.card img { width: 100%; display: block; background: #fafafa; image-rendering: pixelated; }
.card video { width: 100%; max-height: 200px; display: block; background: #fff; }
.card .empty { padding: 40px 0; text-align: center; color: #888; background: #fafafa; }
.card .body { padding: 8px 10px; }
.card h2 { font-size: 13px; margin: 0 0 6px; word-break: break-all; }
.badge { display: inline-block; padding: 0 6px; border-radius: 4px; color: #fff; font-weight: 600; }
.badge.ok { background: #16a34a; } .badge.skipped { background: #2563eb; }
.badge.failed { background: #dc2626; } .badge.pending { background: #a1a1aa; }
table.kv { border-collapse: collapse; width: 100%; margin: 4px 0; }
table.kv td { border-top: 1px solid #eee; padding: 2px 4px; vertical-align: top; word-break: break-word; }
table.kv td:first-child { color: #555; width: 45%; }
pre.error { white-space: pre-wrap; color: #b91c1c; background: #fef2f2; padding: 6px; margin: 6px 0 0; }
.links a { margin-right: 10px; }
</style>
</head>
<body>
<header>
<h1>$title</h1>
<div class="controls">
<input id="filter" type="search" placeholder="Filter: words that must all appear (e.g. red seed=1 ok)">
<label>Sort by <select id="sort">$options</select></label>
<button id="dir" type="button">&uarr; ascending</button>
<span id="counts">$summary</span> &middot; <span id="shown"></span>
</div>
</header>
<main id="cards">
$cards
</main>
<script>
(function () {
  var grid = document.getElementById("cards");
  var cards = Array.prototype.slice.call(grid.querySelectorAll(".card"));
  var filter = document.getElementById("filter");
  var sort = document.getElementById("sort");
  var dir = document.getElementById("dir");
  var shown = document.getElementById("shown");
  var descending = false;
  var values = new Map();
  cards.forEach(function (card) { values.set(card, JSON.parse(card.getAttribute("data-values"))); });
  function missing(v) { return v === null || v === undefined || v === ""; }
  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b), undefined, {numeric: true});
  }
  function apply() {
    var key = sort.value, sign = descending ? -1 : 1;
    var words = filter.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var ordered = cards.slice().sort(function (x, y) {
      var a = values.get(x)[key], b = values.get(y)[key];
      if (missing(a) !== missing(b)) return missing(a) ? 1 : -1;
      var order = missing(a) ? 0 : sign * compare(a, b);
      return order || Number(x.getAttribute("data-index")) - Number(y.getAttribute("data-index"));
    });
    var count = 0;
    ordered.forEach(function (card) {
      var text = card.getAttribute("data-text");
      var hit = words.every(function (w) { return text.indexOf(w) >= 0; });
      card.hidden = !hit;
      if (hit) count += 1;
      grid.appendChild(card);
    });
    shown.textContent = count + " of " + cards.length + " trials shown";
  }
  filter.addEventListener("input", apply);
  sort.addEventListener("change", apply);
  dir.addEventListener("click", function () {
    descending = !descending;
    dir.innerHTML = descending ? "&darr; descending" : "&uarr; ascending";
    apply();
  });
  apply();
})();
</script>
</body>
</html>
""")


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _table(items: dict) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_text(v))}</td></tr>" for k, v in items.items())
    return f'<table class="kv">{rows}</table>' if rows else ""


def _card(index: int, result: TrialResult) -> str:
    values = {k: v for k, v in flat_row(result).items() if k not in UNSORTABLE}
    search = " ".join([result.trial, result.status, result.error]
                      + [f"{k}={_text(v)}" for k, v in {**result.overrides, **result.scores}.items()])
    esc = html.escape
    preview = esc(result.preview)
    media = (f'<a href="{preview}"><img class="preview" src="{preview}" alt="preview of {esc(result.trial)}"></a>'
             if result.preview else '<div class="empty">no preview</div>')
    if result.video:
        media += f'<video class="turntable" src="{esc(result.video)}" controls loop muted playsinline preload="metadata"></video>'
    metrics = {"wall time (s)": result.wall_seconds, "steps/s": result.steps_per_second}
    links = [f'<a href="{esc(result.glb)}" download>model.glb</a>' if result.glb else "",
             f'<a href="{esc(result.video)}">video.mp4</a>' if result.video else "",
             f'<a href="{TRIALS_DIR}/{esc(result.trial)}/config.yaml">config.yaml</a>']
    error = f'<pre class="error">{esc(result.error)}</pre>' if result.error else ""
    return (
        f'<article class="card" data-index="{index}" data-trial="{esc(result.trial)}" data-status="{esc(result.status)}"'
        f' data-values="{esc(json.dumps(json_safe(values)))}" data-text="{esc(search.lower())}">{media}<div class="body">'
        f'<h2><span class="badge {esc(result.status)}">{esc(result.status)}</span> {esc(result.trial)}</h2>'
        f'{_table(result.overrides)}{_table(result.scores)}{_table({k: v for k, v in metrics.items() if v is not None})}'
        f'<p class="links">{" ".join(link for link in links if link)}</p>{error}</div></article>'
    )


def write_gallery(sweep_dir: Path, title: str, results: List[TrialResult]) -> Path:
    """Write ``<sweep_dir>/index.html`` for ``results``; returns its path."""
    keys = [k for k in columns([flat_row(r) for r in results]) if k not in UNSORTABLE]
    options = "".join(f'<option value="{html.escape(k)}">{html.escape(k)}</option>' for k in keys)
    counts = Counter(r.status for r in results)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    page = PAGE.substitute(
        title=html.escape(f"Sweep {title}"), options=options, summary=html.escape(summary),
        cards="\n".join(_card(i, r) for i, r in enumerate(results)),
    )
    path = Path(sweep_dir) / "index.html"
    write_text(path, page)
    return path
