"""Assemble the comparison report (a :class:`Document`) from what the pipeline produced.

Sections: a banner (real-scale or NOT comparable), Table 1 reproduced with the deviations printed
next to it, the ablation tables (every model on every metric with 95% CIs, real test sets and the
synthetic validation set), training curves, qualitative grids, degradation previews.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from replication.artifacts.runs import retrained_models
from replication.params import Params
from replication.report import paper_table
from replication.report.claims import LineResult, claims_blocks
from replication.report.curves import Curve, lr_note, plot_phase
from replication.report.document import (
    Banner,
    Block,
    Bullets,
    Details,
    Document,
    Heading,
    Image,
    Paragraph,
    RawHtml,
    Table,
)
from replication.report.grids import Grid
from replication.report.slider import SliderImage, slider_html, slider_note
from replication.report.tables import external_models, metric_tables, subsets, table1

PHASE_TITLES = {"net": "Real-ESRNet phase (L1)", "gan": "Real-ESRGAN phase (L1 + perceptual + GAN)"}


@dataclass
class ReportInputs:
    params: Params
    summary: pd.DataFrame  # see replication.artifacts.metrics_table.SUMMARY_COLUMNS
    curves: list[Curve] = field(default_factory=list)
    grids: list[Grid] = field(default_factory=list)
    previews: list[tuple[str, bytes]] = field(default_factory=list)  # (caption, PNG)
    unavailable: dict[str, str] = field(default_factory=dict)  # model -> why it could not be run
    validation_dataset: str = ""  # the `dataset` name of the synthetic validation set in the summary
    comparison: list[SliderImage] = field(default_factory=list)  # crops for the before/after slider
    tidy: pd.DataFrame | None = None  # per-image metrics, for the claim verdicts (seeds x images bootstrap)
    # model -> {paper_scale_deviations, perceptual_vgg} from its training metadata (artifacts.runs)
    training_notes: dict[str, dict] = field(default_factory=dict)
    claims: list[LineResult] | None = None  # the claim lines (replication.report.claims_stage.compute_claims)
    claims_reference: str = "full"  # the claims definition's reference variant


def banner(params: Params) -> Banner:
    p = params.active
    if p.real_scale:
        return Banner(
            f"Profile `{params.profile}`: real-scale results (the paper's recipe). Comparable to the paper "
            "within the deviations listed below.",
            comparable=True,
        )
    # Several seeds make a study of the claims at this scale; one seed only exercises the pipeline.
    purpose = (
        f"It measures the paper's ablation claims at this scale, over {len(p.seeds)} seeds (the verdicts below)"
        + (f"; {', '.join(p.single_seed_variants)} at one seed." if p.single_seed_variants else ".")
        if len(p.seeds) > 1
        else "This checks that the pipeline works end to end."
    )
    return Banner(
        f"Profile `{params.profile}`: {params.profile} results, NOT comparable to the paper — tiny networks "
        f"({p.network.describe()}), {p.train_net.iters} + {p.train_gan.iters} "
        f"iterations, a subset of the test images. {purpose}",
        comparable=False,
    )


def deviations(inputs: ReportInputs) -> list[str]:
    """What differs from the paper's protocol, for the numbers of this run."""
    p = inputs.params.active
    s = inputs.summary
    out = [f"profile `{inputs.params.profile}` (`real_scale: {str(p.real_scale).lower()}`): {p.description}"]
    for dataset, subset in subsets(s).items():
        out.append(f"`{dataset}`: {subset}")
    sources = set(s["source"]) if len(s) else set()
    if any("fp16" in src for src in sources):
        out.append(
            "`official-fp16-rounded`: official weights imported from the ncnn release, whose convolution weights "
            "are stored in fp16 (biases exact); outputs differ from the .pth weights by about one 8-bit level at most"
        )
    if p.train_gan.vgg_weights == "untrained":
        out.append(
            "retrained models: the perceptual loss used an UNTRAINED VGG19 (`train_gan.vgg_weights: untrained`): "
            "the ImageNet weights are not available offline"
        )
    if p.train_gan.vgg_weights == "imagenet_if_present":
        used: dict[str, list[str]] = {}
        for model, note in inputs.training_notes.items():
            if note["perceptual_vgg"] != "n/a":
                used.setdefault(note["perceptual_vgg"], []).append(model)
        what = "; ".join(f"{kind}: {len(models)} model(s)" for kind, models in sorted(used.items())) or "no model found"
        out.append(
            "retrained models: the perceptual loss used the ImageNet VGG19 where it was present, else an UNTRAINED "
            f"VGG19 substitute (`train_gan.vgg_weights: imagenet_if_present`). Used — {what}"
        )
    scale_devs = sorted({d for note in inputs.training_notes.values() for d in note["paper_scale_deviations"]})
    for dev in scale_devs:
        out.append(f"retrained models trained off the paper's scale (allowed with --allow-deviation): {dev}")
    if p.network.net_init == "scratch":
        out.append("retrained models: Real-ESRNet started from scratch, not from ESRGAN (`network.net_init: scratch`)")
    for model, reason in sorted(inputs.unavailable.items()):
        out.append(f"`{model}` not available: {reason}")
    out.append(
        "NIQE: our implementation of the MATLAB protocol (Y channel, no border crop); the paper does not "
        "state its NIQE implementation"
    )
    return out


def _model_order(inputs: ReportInputs) -> list[str]:
    p = inputs.params.active
    return [
        *retrained_models(inputs.params.variants, p.seeds, p.single_seed_variants),
        *p.evaluate.baselines,
        *external_models(inputs.summary),
    ]


def _validation_note(inputs: ReportInputs) -> str:
    v = inputs.params.active.validation
    note = (
        f"Synthetic validation set `{inputs.validation_dataset}`: {v.count} LQ/GT pairs synthesised once with "
        f"the `{v.variant}` degradation (seed {v.seed}, GT {v.gt_size}px) from `{v.dataset}`, which no profile "
        "trains on. PSNR/SSIM there measure fidelity to a known GT; on the real sets only no-reference "
        "metrics exist."
    )
    if v.extra_variants:
        note += (
            f" Also `{inputs.validation_dataset}-<variant>` for each of {', '.join(v.extra_variants)}: the same HR "
            "images, count and seed, another degradation, so the comparison is not only in the training distribution."
        )
    return note


def _comparison_blocks(inputs: ReportInputs) -> list[Block]:
    """The before/after slider (HTML only; the Markdown gets a note)."""
    if not inputs.comparison:
        return []
    return [
        Heading("Compare any two models", level=3),
        Paragraph(
            "Pick an image and two models (bicubic included), then drag the slider: left of the red line is the "
            "left model, right of it the right model. Same zoomed crop as the grids; one seed per retrained run."
        ),
        RawHtml(slider_html(inputs.comparison), slider_note(inputs.comparison)),
    ]


def build_report(inputs: ReportInputs) -> Document:
    params = inputs.params
    doc = Document(f"Real-ESRGAN replication — profile {params.profile}")
    doc.add(banner(params))
    for section in (_table1_section, _ablation_section, _curves_section, _grids_section, _previews_section):
        doc.add(*section(inputs))
    return doc


def _table1_section(inputs: ReportInputs) -> list[Block]:
    """Table 1 with its notes and deviations, then the claim verdicts."""
    params = inputs.params
    table, notes = table1(inputs.summary, params.active.evaluate.test_sets, inputs.unavailable)
    out: list[Block] = [Heading("Table 1 reproduced (NIQE ↓)"), table]
    if notes:
        out.append(Bullets(notes))
    out += [Paragraph("**Deviations from the paper for these numbers:**"), Bullets(tuple(deviations(inputs)))]
    out.append(Paragraph(f"Paper values: {paper_table.SOURCE}"))
    if inputs.tidy is not None:
        out += claims_blocks(inputs.tidy, tuple(params.variants), inputs.claims, inputs.claims_reference)
    return out


def _ablation_section(inputs: ReportInputs) -> list[Block]:
    """The variants, then every model on every metric, one table per dataset."""
    params = inputs.params
    out: list[Block] = [
        Heading("Ablations: every model on every metric"),
        Table(
            ("Variant", "Degradation", "Discriminator", "Spectral norm", "Description"),
            tuple(
                (f"`{name}`", v.degradation, v.discriminator, "yes" if v.spectral_norm else "no", v.description)
                for name, v in params.variants.items()
            ),
            "Variants (retrained, `retrained-<profile>`); each changes only what it names.",
        ),
    ]
    if inputs.validation_dataset:
        out.append(Paragraph(_validation_note(inputs)))
    for dataset, table in metric_tables(inputs.summary, _model_order(inputs)):
        out += [Heading(f"`{dataset}`", level=3), table]
    return out


def _curves_section(inputs: ReportInputs) -> list[Block]:
    """One figure per phase (a panel per loss), and the learning rate in words."""
    out: list[Block] = [Heading("Training curves")]
    for phase, title in PHASE_TITLES.items():
        png = plot_phase(inputs.curves, phase, title, tuple(inputs.params.variants))
        if png is not None:
            caption = f"{title}: DVCLive metrics of every run (colour: variant, line style: seed)"
            out.append(Image(f"curves_{phase}.png", png, caption))
            note = lr_note(inputs.curves, phase)
            if note:
                out.append(Paragraph(f"{PHASE_TITLES[phase].split(' (')[0]}: {note}."))
    if len(out) == 1:
        out.append(Paragraph("No training logs found."))
    return out


def _grids_section(inputs: ReportInputs) -> list[Block]:
    """The zoomed-crop grids (other seeds folded away), then the before/after slider."""
    out: list[Block] = [Heading("Qualitative comparison")]
    if not inputs.grids:
        return [*out, Paragraph("No super-resolved images found."), *_comparison_blocks(inputs)]
    first = min(inputs.params.active.seeds)
    out.append(
        Paragraph(
            "The same zoomed crop (red box on the LR input: the window with the most gradient energy; "
            "beside it that window itself, one block per LR pixel) from bicubic, every baseline, every "
            f"external model and every variant's Real-ESRGAN at its representative seed (the lowest, {first}). "
            "On the synthetic sets the GT crop comes first and each panel gives the PSNR of its crop against it "
            "(RGB, 8-bit; the tables' PSNR is on the Y channel of the whole image). The other seeds and "
            "the Real-ESRNet phase are in the folded section under each grid."
        )
    )
    for grid in inputs.grids:
        out.append(Image(f"grid_{grid.dataset}.png", grid.png, f"{grid.dataset}: zoomed crops"))
        if grid.more is not None:
            more = Image(f"grid_{grid.dataset}_more.png", grid.more, f"{grid.dataset}: other seeds, Real-ESRNet")
            out.append(Details(f"{grid.dataset}: the other seeds and the Real-ESRNet phase", (more,)))
    return [*out, *_comparison_blocks(inputs)]


def _previews_section(inputs: ReportInputs) -> list[Block]:
    out: list[Block] = [Heading("Degradation previews")]
    if not inputs.previews:
        return [*out, Paragraph("No degradation previews given.")]
    return [*out, *(Image(f"preview_{i}.png", png, caption) for i, (caption, png) in enumerate(inputs.previews))]
