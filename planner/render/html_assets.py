"""What every udroll HTML page shares: the <head> with its inline style, the timeline's buttons and
script, and escaping. The plan preview (planner.render.html) and the run report
(executor.report.html) both build on it.

Everything is inline: a page opens offline and asks nothing of the network.
"""

from __future__ import annotations

import html

BUTTONS = (  # what the script listens to in nav.controls
    '<button type="button" data-zoom="out" title="Zoom out">&minus;</button>'
    '<button type="button" data-zoom="in" title="Zoom in">+</button>'
    '<button type="button" data-zoom="fit" title="Fit the whole timeline to the window">Fit</button>'
    '<button type="button" data-lanes="expand">Expand all</button>'
    '<button type="button" data-lanes="collapse">Collapse all</button>'
)


def head(title_text: str) -> str:
    """The document up to <body>: inline style, a policy that forbids fetching anything."""
    title = esc(title_text)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # nothing may be fetched: no scripts, styles, fonts or images from anywhere
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
        '<link rel="icon" href="data:,">\n'
        f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
    )


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def esc_code(text: str) -> str:
    """``esc`` of a message whose `backticked` parts (commands to type) become <code>; an unpaired
    backtick stays a backtick."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an odd number of backticks: the last one opens nothing
        parts[-2:] = [parts[-2] + "`" + parts[-1]]
    return "".join(f"<code>{esc(p)}</code>" if i % 2 else esc(p) for i, p in enumerate(parts))


CSS = """
:root{--ink:#1d2430;--muted:#5b6573;--line:#d8dde4;--bg:#fff;--band:#f3f5f8;--crit:#c0162b;
--deadline:#d0021b;--scheduled:#7b2cbf;--allowed:#e3f4e6}
*{box-sizing:border-box}
body{margin:0;padding:16px 20px;
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:var(--ink);background:var(--bg)}
h1{font-size:22px;margin:0 0 4px}h1 small{font-weight:normal;color:var(--muted);font-size:15px}
h2{font-size:17px;margin:22px 0 8px}
.note{color:var(--muted);margin:2px 0 10px}
dl.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:6px 16px;margin:8px 0}
dl.figures div{border-left:3px solid var(--line);padding-left:8px}
dt{color:var(--muted);font-size:12px}dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.alert{padding:6px 10px;border-radius:4px}.alert.bad{background:#fde8ea;border:1px solid #f1a7b0}
.warnings ul{margin:4px 0;padding-left:20px}.code{font-family:ui-monospace,Menlo,Consolas,monospace;
background:#fff4d6;padding:0 4px;border-radius:3px}
.controls{display:flex;flex-wrap:wrap;align-items:center;gap:6px;margin:12px 0 6px}
.controls button{font:inherit;padding:2px 10px;border:1px solid #aab3bf;border-radius:4px;background:#f7f8fa;
cursor:pointer}.controls button:focus{outline:2px solid #3b6fb6}
.legend{display:flex;flex-wrap:wrap;gap:10px;margin-left:12px;color:var(--muted);font-size:12px}
.key i{display:inline-block;width:14px;height:10px;margin-right:4px;vertical-align:middle;border-radius:2px}
.key i.crit{border:2px solid var(--crit)}
.key i.gap{background:repeating-linear-gradient(45deg,#fff 0 2px,#8b95a3 2px 3px)}
.key i.allowed{background:var(--allowed)}.key i.deadline{width:3px;background:var(--deadline)}
.key i.scheduled{width:3px;background:var(--scheduled)}
.chart{display:flex;border:1px solid var(--line);border-radius:4px;background:#fff}
.scroll{overflow-x:auto;flex:1;min-width:0}
.tables{overflow-x:auto}code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em;
background:rgba(0,0,0,.06);padding:0 3px;border-radius:3px}
svg text{font-size:12px;fill:var(--ink)}
svg .lane-label{fill:var(--muted)}svg .tier-label{font-weight:600}
svg .axis-title{fill:var(--muted);font-size:11px}
.horizon{display:flex;align-items:center;margin:4px 0 8px}
.horizon>span{flex:0 0 240px;padding-left:8px;font-size:12px}
.horizon svg{flex:1;min-width:0}.horizon .plan-span{fill:#3b6fb6;opacity:.85}
.horizon text{font-size:11px}
.head{fill:var(--band)}.toggle{cursor:pointer}.toggle:focus{outline:none}.toggle:focus rect{stroke:#3b6fb6}
.row{stroke:#eef0f3}
.allowed{fill:var(--allowed)}
.tick{stroke:#8b95a3}.tick.day{stroke:var(--ink);stroke-width:2}.tick-label{font-size:11px;fill:var(--muted)}
.tick-day{font-size:11px;font-weight:600}
g[data-g]>rect+rect{stroke:rgba(0,0,0,.25);stroke-width:1}
g[data-g].crit>rect+rect{stroke:var(--crit);stroke-width:2.5}
g[data-g]>rect:first-child{fill:url(#hatch);stroke:#8b95a3;stroke-width:.5}
.hatch-bg{fill:#fff}.hatch-line{stroke:#8b95a3;stroke-width:2}
.blabel{fill:#fff;font-size:11px;pointer-events:none}
g[data-g]:hover>rect+rect{filter:brightness(1.15)}
.marker line,line.marker{stroke-width:2}
.marker.deadline line,line.marker.deadline{stroke:var(--deadline)}
.marker.scheduled line,line.marker.scheduled{stroke:var(--scheduled);stroke-dasharray:5 3}
.marker.deadline text,svg .tier-deadline{fill:var(--deadline)}svg .tier-deadline{font-size:11px}
.marker.scheduled text{fill:var(--scheduled)}
.tier.collapsed .lane .lane-label,.tier.collapsed .blabel{display:none}
.tier.collapsed g[data-g]>rect+rect{opacity:.7}
table{border-collapse:collapse;margin:6px 0 14px;font-size:13px;width:100%}
caption{text-align:left;color:var(--muted);padding:2px 0 6px}
th,td{border:1px solid var(--line);padding:3px 6px;text-align:left;vertical-align:top}
thead th{background:var(--band)}tr.crit th{color:var(--crit)}
td.t,table.steps td:nth-child(5),table.steps td:nth-child(6){white-space:nowrap}
summary{cursor:pointer;font-family:system-ui,sans-serif}details.steps>summary{margin:4px 0;color:var(--muted)}
td.vms,table.steps td:nth-child(9){font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;
overflow-wrap:anywhere}
@media print{.controls{display:none}.scroll{overflow:visible}}
"""

# The script only rearranges what the page already drew: zoom rescales every element with data-s,
# the tier toggles move lanes. It uses no data that is not in the DOM.
SCRIPT = r"""
(function () {
  "use strict";
  var tl = document.getElementById("timeline"), lb = document.getElementById("labels");
  if (!tl || !lb) return;
  var NS = "http://www.w3.org/2000/svg";
  var PAD = +tl.dataset.pad, AXIS = +tl.dataset.axis, TIER = +tl.dataset.tierH, ROW = +tl.dataset.rowH;
  var span = +tl.dataset.span, origin = +tl.dataset.origin, scroll = document.getElementById("scroll");
  // the page opens with the whole span in the window, whatever its width (zoom in for detail)
  var fit = (scroll.clientWidth - 2 * PAD - 2) / span, scale = fit;
  var TICKS = [900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];
  var DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  var MONTHS = ["Jan","Feb","Mar","Apr","May","Jun","Jul","Aug","Sep","Oct","Nov","Dec"];
  var timed = tl.querySelectorAll("[data-s]:not(g)");
  var steps = tl.querySelectorAll("g[data-g]");
  var CHAR = +tl.dataset.char, LANE_CHARS = +lb.dataset.laneChars;
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function px(s) { return PAD + s * scale; }
  function axis() {
    var g = document.getElementById("axis");
    while (g.firstChild) g.removeChild(g.firstChild);
    var step = TICKS[TICKS.length - 1];
    for (var i = 0; i < TICKS.length; i++) { if (TICKS[i] * scale >= 90) { step = TICKS[i]; break; } }
    var lastDay = null, dayEnd = 0, right = 2 * PAD + span * scale - 2;
    for (var t = Math.ceil(origin / step) * step; t <= origin + span; t += step) {
      var d = new Date(t * 1000), x = px(t - origin), day = d.toISOString().slice(0, 10);
      var midnight = d.getUTCHours() === 0 && d.getUTCMinutes() === 0;
      var tick = {"class": midnight ? "tick day" : "tick", x1: x, x2: x, y1: AXIS - 8, y2: AXIS};
      g.appendChild(svg("line", tick));
      var hm = two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
      inside(g.appendChild(svg("text", {"class": "tick-label", x: x, y: AXIS - 13}, hm)), x, right);
      if (day !== lastDay) {
        var name = DAYS[d.getUTCDay()] + " " + two(d.getUTCDate()) + " " + MONTHS[d.getUTCMonth()];
        var label = g.appendChild(svg("text", {"class": "tick-day", x: x, y: AXIS - 28}, name));
        var at = inside(label, x, right);
        // moved in from the edge over the previous day's name: the earlier day keeps its label
        if (at < dayEnd) g.removeChild(label); else dayEnd = at + label.getComputedTextLength() + 4;
      }
      lastDay = day;
    }
  }
  function inside(text, x, right) {
    // a label that would run past the right edge ends at the edge instead
    var at = Math.min(x, right - text.getComputedTextLength());
    text.setAttribute("x", at);
    return at;
  }
  function svg(tag, attrs, text) {
    var el = document.createElementNS(NS, tag);
    for (var k in attrs) el.setAttribute(k, attrs[k]);
    if (text) el.textContent = text;
    return el;
  }
  function barLabel(g) {
    var parts = g.dataset.step.split("/"), n = +g.dataset.n;
    return (parts.length > 2 ? parts.slice(2).join("/") : "vm") + " \u00b7 " + n + (n === 1 ? " VM" : " VMs");
  }
  function placeStep(g) {
    var s = +g.dataset.s, e = +g.dataset.e, end = +g.dataset.g;
    var gap = g.children[0], bar = g.children[1], label = g.querySelector(".blabel");
    gap.setAttribute("x", px(e)); gap.setAttribute("width", Math.max(1, (end - e) * scale));
    bar.setAttribute("x", px(s)); bar.setAttribute("width", Math.max(1, (e - s) * scale));
    var text = label ? label.textContent : barLabel(g);
    var fits = (e - s) * scale >= Math.floor(text.length * CHAR) + 6;
    if (fits && !label) {
      label = svg("text", {"class": "blabel", y: 16}, text);
      g.insertBefore(label, bar.nextSibling);
    }
    if (label) { label.setAttribute("x", px(s) + 3); label.style.display = fits ? "" : "none"; }
  }
  function labelLanes(tier, head) {
    // a tier that started collapsed has no lane labels yet: write them from the lanes' groups
    var into = head.querySelector(":scope > g.lanes");
    if (into.firstChild) return;
    var lanes = tier.querySelectorAll(":scope > g.lanes > g.lane");
    for (var i = 0; i < lanes.length; i++) {
      var name = lanes[i].dataset.group, g = svg("g", {"class": "lane"});
      var clipped = name.length <= LANE_CHARS ? name : "\u2026" + name.slice(name.length - LANE_CHARS + 1);
      var text = svg("text", {x: 20, y: 16, "class": "lane-label"}, clipped);
      if (clipped !== name) text.appendChild(svg("title", {}, name));
      g.appendChild(text);
      into.appendChild(g);
    }
  }
  function rescale() {
    var width = 2 * PAD + span * scale;
    tl.setAttribute("width", width);
    for (var i = 0; i < timed.length; i++) {
      var el = timed[i], s = +el.dataset.s, tag = el.tagName;
      if (tag === "line") { el.setAttribute("x1", px(s)); el.setAttribute("x2", px(s)); }
      else if (tag === "text") el.setAttribute("x", px(s) + 3);
      else {
        el.setAttribute("x", px(s));
        el.setAttribute("width", Math.max(1, (+el.dataset.e - s) * scale));
      }
    }
    for (var n = 0; n < steps.length; n++) placeStep(steps[n]);
    var wide = tl.querySelectorAll(".wide");
    for (var j = 0; j < wide.length; j++) {
      wide[j].setAttribute(wide[j].tagName === "line" ? "x2" : "width", width);
    }
    var ends = tl.querySelectorAll(".at-end");
    for (var k = 0; k < ends.length; k++) ends[k].setAttribute("x", width - 4);
    axis();
  }
  function zoom(to) {
    // keep the time in the middle of the view where it is
    var mid = (scroll.scrollLeft + scroll.clientWidth / 2 - PAD) / scale;
    scale = Math.min(fit * 4096, Math.max(fit / 64, to));
    rescale();
    scroll.scrollLeft = Math.max(0, mid * scale + PAD - scroll.clientWidth / 2);
  }
  function relayout() {
    var y = AXIS, tiers = tl.querySelectorAll("g.tier"), heads = lb.querySelectorAll("g.tier");
    for (var i = 0; i < tiers.length; i++) {
      var collapsed = tiers[i].classList.contains("collapsed");
      if (!collapsed) labelLanes(tiers[i], heads[i]);
      tiers[i].setAttribute("transform", "translate(0," + y + ")");
      heads[i].setAttribute("transform", "translate(0," + y + ")");
      heads[i].classList.toggle("collapsed", collapsed);
      var toggle = heads[i].querySelector(".toggle");
      toggle.setAttribute("aria-expanded", collapsed ? "false" : "true");
      toggle.querySelector(".arrow").textContent = collapsed ? "\u25b8" : "\u25be";
      var lanes = tiers[i].querySelectorAll(":scope > g.lanes > g.lane");
      var labels = heads[i].querySelectorAll(":scope > g.lanes > g.lane");
      for (var k = 0; k < lanes.length; k++) {
        var t = "translate(0," + (collapsed ? 0 : k * ROW) + ")";
        lanes[k].setAttribute("transform", t);
        if (labels[k]) labels[k].setAttribute("transform", t);
      }
      var band = TIER + (collapsed ? ROW : lanes.length * ROW);
      var own = tiers[i].querySelectorAll(".tier-marker");
      for (var n = 0; n < own.length; n++) own[n].setAttribute("y2", band);
      y += band;
    }
    var h = y + 8;
    tl.setAttribute("height", h); lb.setAttribute("height", h);
    var full = tl.querySelectorAll(".full");
    for (var m = 0; m < full.length; m++) {
      if (full[m].tagName === "line") full[m].setAttribute("y2", h);
      else full[m].setAttribute("height", h - AXIS);
    }
  }
  function toggle(name, collapse) {
    var tiers = tl.querySelectorAll("g.tier");
    for (var i = 0; i < tiers.length; i++) {
      if (name === null || tiers[i].dataset.tier === name) {
        var now = tiers[i].classList.contains("collapsed");
        tiers[i].classList.toggle("collapsed", collapse === null ? !now : collapse);
      }
    }
    relayout();
  }
  lb.addEventListener("click", function (ev) {
    var t = ev.target.closest(".toggle"); if (t) toggle(t.dataset.tier, null);
  });
  lb.addEventListener("keydown", function (ev) {
    var t = ev.target.closest(".toggle");
    if (t && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); toggle(t.dataset.tier, null); }
  });
  document.querySelector(".controls").addEventListener("click", function (ev) {
    var b = ev.target.closest("button"); if (!b) return;
    if (b.dataset.lanes) { toggle(null, b.dataset.lanes === "collapse"); return; }
    zoom(b.dataset.zoom === "in" ? scale * 1.6 : b.dataset.zoom === "out" ? scale / 1.6 : fit);
  });
  scroll.addEventListener("wheel", function (ev) {
    if (!ev.ctrlKey) return;
    ev.preventDefault();
    zoom(ev.deltaY < 0 ? scale * 1.25 : scale / 1.25);
  }, {passive: false});
  rescale();
  relayout();
})();
"""
