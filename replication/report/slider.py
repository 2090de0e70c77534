"""An interactive before/after comparison for the HTML report: pick an image and any two models (or a
model and bicubic), then drag a slider to wipe from one to the other.

Self-contained: the crops are PNG data: URIs in an inline JSON block and the script and style are
inline, so the page works offline and from a file. Each image contributes the same zoomed crop
(``grids.crops_for``: the LR window with the most gradient energy) from every model that produced it,
so the page stays a few MB where full outputs would be hundreds. The order of images and models is the
caller's, and nothing else (no time, no path) goes in, so the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from replication.report.grids import crops_for, find_output
from replication.report.seeds import parse_run


@dataclass(frozen=True)
class SliderImage:
    label: str  # e.g. "realsrset/Lincoln.png"
    crops: tuple[tuple[str, bytes], ...]  # (model, PNG) in display order


def _png(rgb: np.ndarray) -> bytes:
    """(H, W, 3) uint8 -> PNG bytes (Pillow writes no time or software chunk)."""
    buf = io.BytesIO()
    PILImage.fromarray(rgb).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def slider_models(
    results: Path, dataset: str, variants: tuple[str, ...], baselines: tuple[str, ...], external: tuple[str, ...] = ()
) -> dict[str, Path]:
    """``{model: images dir}`` of every model with outputs for ``dataset``: bicubic, the baselines, then
    the retrained runs (variant order, Real-ESRNet before Real-ESRGAN), one seed each (the lowest) to
    keep the page small, then the ``external`` models, then any other model found."""
    have = sorted(d.name for d in results.iterdir() if (d / dataset / "images").is_dir()) if results.is_dir() else []
    fixed = [m for m in ("bicubic", *baselines) if m in have]
    runs = {m: parse_run(m, variants) for m in have}
    chosen: dict[tuple[str, str], tuple[int, str]] = {}
    for m, r in runs.items():
        if r is not None and ((r[0], r[1]) not in chosen or r[2] < chosen[(r[0], r[1])][0]):
            chosen[(r[0], r[1])] = (r[2], m)
    order = {v: i for i, v in enumerate(variants)}
    retrained = [chosen[k][1] for k in sorted(chosen, key=lambda k: (order[k[0]], k[1] != "net"))]
    brought = [m for m in external if m in have]
    others = [m for m in have if m not in fixed and runs[m] is None and m not in brought]
    from replication.report.tables import external_label

    shown = [*((m, m) for m in (*fixed, *retrained)), *((external_label(m), m) for m in brought)]
    return {label: results / m / dataset / "images" for label, m in (*shown, *((m, m) for m in others))}


def collect(
    dataset: str,
    lr_files: list[Path],
    output_dirs: dict[str, Path],
    crop: int,
    max_images: int,
    names: dict[str, str] | None = None,
) -> list[SliderImage]:
    """The first ``max_images`` LR files (by name) that at least two models produced, with their crops.
    ``names`` maps a file name to a readable title (a synthetic set's source image)."""
    names = names or {}
    out = []
    for lr_path in sorted(lr_files, key=lambda p: p.name):
        found = {m: p for m, d in output_dirs.items() if (p := find_output(d, lr_path.stem)) is not None}
        if len(found) < 2:
            continue
        _, _, crops = crops_for(lr_path, found, crop)
        out.append(
            SliderImage(f"{dataset}/{names.get(lr_path.name, lr_path.name)}", tuple((m, _png(crops[m])) for m in found))
        )
        if len(out) == max_images:
            break
    return out


_STYLE = """
.cmp{margin:1em 0 2em}
.cmp-controls{display:flex;flex-wrap:wrap;gap:.5em 1.5em;margin-bottom:.5em}
.cmp-view{position:relative;display:inline-block;line-height:0;border:1px solid #999}
.cmp-view img{width:min(512px,90vw);height:auto;image-rendering:pixelated;display:block}
.cmp-top{position:absolute;top:0;left:0}
.cmp-line{position:absolute;top:0;bottom:0;width:2px;background:#e33;pointer-events:none}
.cmp-pos{display:block;width:min(512px,90vw);margin:.4em 0}
.cmp-names{display:flex;justify-content:space-between;width:min(512px,90vw);font-size:.85em}
"""

# Plain ES5, no libraries. Left image on top, clipped to the slider position; right image beneath.
_SCRIPT = r"""
(function(){
var data=JSON.parse(document.getElementById('cmp-data').textContent);
var $=function(id){return document.getElementById(id);};
var img=$('cmp-image'),left=$('cmp-left'),right=$('cmp-right'),pos=$('cmp-pos');
function fill(sel,names,want){
  sel.innerHTML='';
  names.forEach(function(n){var o=document.createElement('option');o.value=n;o.textContent=n;sel.appendChild(o);});
  sel.value=names.indexOf(want)>=0?want:names[0];
}
function models(){return data.images[+img.value].models;}
function names(){return models().map(function(m){return m[0];});}
function src(name){var ms=models();for(var i=0;i<ms.length;i++){if(ms[i][0]===name)return ms[i][1];}return '';}
function draw(){
  $('cmp-a').src=src(left.value);$('cmp-b').src=src(right.value);
  var p=+pos.value;$('cmp-top').style.clipPath='inset(0 '+(100-p)+'% 0 0)';$('cmp-line').style.left=p+'%';
  $('cmp-name-a').textContent='\u2190 '+left.value;$('cmp-name-b').textContent=right.value+' \u2192';
}
function pick(){
  var n=names(),l=left.value||data.left,r=right.value||data.right;
  fill(left,n,l);fill(right,n,r);
  if(left.value===right.value&&n.length>1){right.value=n[(n.indexOf(left.value)+1)%n.length];}
  draw();
}
data.images.forEach(function(im,i){
  var o=document.createElement('option');o.value=i;o.textContent=im.label;img.appendChild(o);
});
img.addEventListener('change',pick);left.addEventListener('change',draw);right.addEventListener('change',draw);
pos.addEventListener('input',draw);
// A link can open a given view: report.html#cmp=<image index>,<left model>,<right model>,<position 0-100>
var h=/^#cmp=(\d+),([^,]*),([^,]*),(\d+)$/.exec(location.hash);
if(h&&+h[1]<data.images.length){
  img.value=h[1];fill(left,names(),decodeURIComponent(h[2]));fill(right,names(),decodeURIComponent(h[3]));
  pos.value=h[4];draw();
}else{pick();}
})();
"""


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def default_pair(names: list[str], preferred_left: str = "bicubic") -> tuple[str, str]:
    """Left: bicubic when present (else the first model); right: the first other model."""
    left = preferred_left if preferred_left in names else names[0]
    right = next(n for n in names if n != left)
    return left, right


def slider_html(images: list[SliderImage]) -> str:
    """The comparison widget as one HTML fragment (inline style, data and script)."""
    if not images:
        raise ValueError("slider_html needs at least one image")
    first = [m for m, _ in images[0].crops]
    left, right = default_pair(first)
    data = {
        "left": left,
        "right": right,
        "images": [{"label": im.label, "models": [[m, _uri(png)] for m, png in im.crops]} for im in images],
    }
    # "</" inside a script element would end it: escape the slash (valid JSON either way).
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=True).replace("</", "<\\/")
    return (
        f"<style>{_STYLE}</style>"
        '<div class="cmp" id="cmp">'
        '<div class="cmp-controls">'
        '<label>Image <select id="cmp-image"></select></label>'
        '<label>Left <select id="cmp-left"></select></label>'
        '<label>Right <select id="cmp-right"></select></label>'
        "</div>"
        '<div class="cmp-view"><img id="cmp-b" alt="right model">'
        '<div class="cmp-top" id="cmp-top"><img id="cmp-a" alt="left model"></div>'
        '<div class="cmp-line" id="cmp-line"></div></div>'
        '<input class="cmp-pos" id="cmp-pos" type="range" min="0" max="100" value="50" '
        'aria-label="before/after position">'
        '<div class="cmp-names"><span id="cmp-name-a"></span><span id="cmp-name-b"></span></div>'
        "</div>"
        f'<script type="application/json" id="cmp-data">{payload}</script>'
        f"<script>{_SCRIPT}</script>"
    )


def slider_note(images: list[SliderImage]) -> str:
    """What the Markdown report says in place of the widget."""
    labels = ", ".join(html.escape(im.label) for im in images)
    return (
        f"Interactive before/after comparison of {len(images)} image(s) ({labels}): open `report.html` "
        "(the Markdown version has no scripts)."
    )
