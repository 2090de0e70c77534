"""The dataset registry: every data set the replication uses, in one place.

Each :class:`Dataset` says where its files come from (URLs and checksums), how big it is, how many
images it holds, its licence, where the images lie after download and extraction, and, for hosts
that need a browser (Google Drive, Baidu, ImageNet's login), exactly where to put files obtained by
hand. Values marked "unknown" in a note are unknown to us: they are ``None`` here, never guessed.

Sources (docs/reference-notes.md §9): the datasets' release pages (archive URLs, sizes, checksums,
counts) and the offline mirror's ``MANIFEST.json`` for the small sets, whose per-file facts (relative path, URL,
sha256, bytes) are kept in ``small_sets.json`` beside this module (facts only, no image data).

On disk, a set named ``NAME`` lives in ``<root>/NAME/`` (``root`` is ``data/raw`` by default):

* per-file sets keep the MANIFEST layout below ``datasets/NAME/`` (e.g. ``set5/HR/baby.png``);
* archive sets keep the archive as ``<root>/NAME/<archive>`` and extract it into
  ``<root>/NAME/extracted/``;
* folder sets (manual, no single published file) are filled by hand.

A *view* (``realsr-v3-canon``, ``ost300``) has no files of its own: it names a parent set and the
folder (and file pattern) of the parent that holds its images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from replication.errors import UsageError, UserError

EXTRACT_DIR = "extracted"  # archives of set NAME are unpacked into <root>/NAME/extracted/
MARKER = ".complete.json"  # written into <root>/NAME/ once every file is verified (and extracted)


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its path inside the set's folder, where to get it, how to check it."""

    path: str  # relative to <root>/NAME/ (and to <mirror>/datasets/NAME/)
    urls: tuple[str, ...]  # tried in order; empty for files that need a browser
    sha256: str | None = None
    md5: str | None = None
    sha1: str | None = None
    bytes: int | None = None
    extract: bool = False  # an archive to unpack into <root>/NAME/extracted/

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def has_checksum(self) -> bool:
        return any((self.sha256, self.md5, self.sha1))


@dataclass(frozen=True)
class Dataset:
    """A registry entry. ``kind`` is ``auto`` (the downloader can fetch it) or ``manual``."""

    name: str
    title: str
    kind: Literal["auto", "manual"]
    license: str
    files: tuple[RemoteFile, ...] = ()
    image_count: int | None = None  # images the set (or view) holds; None: unknown
    image_dirs: tuple[str, ...] = ("",)  # candidate folders (relative to <root>/NAME/) holding the images
    image_pattern: str = "*"  # glob applied inside the image folder (recursively)
    layout: str = ""  # what the folder looks like after download and extraction
    manual: str = ""  # how to obtain it by hand (hosts that need a browser or a login)
    parent: str | None = None  # views: the set whose files hold this view's images
    notes: str = ""

    @property
    def total_bytes(self) -> int | None:
        """Sum of the published file sizes, or None when any size is unknown (or no files)."""
        if not self.files or any(f.bytes is None for f in self.files):
            return None
        return sum(f.bytes or 0 for f in self.files)

    @property
    def storage_name(self) -> str:
        """The folder under the data root that holds this set's files (the parent's, for a view)."""
        return self.parent or self.name


def _small_set_files(name: str) -> tuple[RemoteFile, ...]:
    table = _small_sets()
    if name not in table:
        raise KeyError(f"small_sets.json has no set {name!r}")
    return tuple(
        RemoteFile(path=f["path"], urls=(f["url"],), sha256=f["sha256"], bytes=f["bytes"]) for f in table[name]
    )


@lru_cache(maxsize=1)
def _small_sets() -> dict[str, list[dict]]:
    text = resources.files("replication.data").joinpath("small_sets.json").read_text(encoding="utf-8")
    return json.loads(text)["sets"]


def small_set_file_facts(name: str) -> list[dict]:
    """The MANIFEST facts (path, url, sha256, bytes, dims, license) of a small set's files."""
    return [dict(f) for f in _small_sets()[name]]


def _div2k_sets() -> list[Dataset]:
    """DIV2K: the paper's main training data and its validation split."""
    div2k = "http://data.vision.ee.ethz.ch/cvl/DIV2K/"
    div2k_https = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
    div2k_license = "DIV2K (NTIRE 2017): academic research use; terms on the DIV2K site (not verified here)"
    return [
        Dataset(
            name="div2k-train-hr",
            title="DIV2K train HR (800 images)",
            kind="auto",
            license=div2k_license,
            files=(
                RemoteFile(
                    "DIV2K_train_HR.zip",
                    (div2k + "DIV2K_train_HR.zip", div2k_https + "DIV2K_train_HR.zip"),
                    sha256="9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335",
                    md5="bdc2d9338d4e574fe81bf7d158758658",
                    bytes=3_530_603_713,
                    extract=True,
                ),
            ),
            image_count=800,
            image_dirs=(f"{EXTRACT_DIR}/DIV2K_train_HR",),
            image_pattern="*.png",
            layout="extracted/DIV2K_train_HR/0001.png ... 0800.png",
        ),
        Dataset(
            name="div2k-valid-hr",
            title="DIV2K validation HR (100 images)",
            kind="auto",
            license=div2k_license,
            files=(
                RemoteFile(
                    "DIV2K_valid_HR.zip",
                    (div2k + "DIV2K_valid_HR.zip", div2k_https + "DIV2K_valid_HR.zip"),
                    sha256="20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc",
                    md5="9fcdda83005c5e5997799b69f955ff88",
                    bytes=448_993_893,
                    extract=True,
                ),
            ),
            image_count=100,
            image_dirs=(f"{EXTRACT_DIR}/DIV2K_valid_HR",),
            image_pattern="*.png",
            layout="extracted/DIV2K_valid_HR/0801.png ... 0900.png",
        ),
    ]


def _flickr2k_ost_sets() -> list[Dataset]:
    """Flickr2K (with DIV2K: DF2K) and OutdoorSceneTraining, the rest of the paper's training data."""
    return [
        Dataset(
            name="flickr2k",
            title="Flickr2K (2650 HR images)",
            kind="auto",
            license="Flickr2K (EDSR authors): research use; images from Flickr, terms not verified here",
            files=(
                RemoteFile(
                    "Flickr2K.tar",
                    ("https://cv.snu.ac.kr/research/EDSR/Flickr2K.tar",),
                    md5="5d3f39443d5e9489bff8963f8f26cb03",  # only md5 is published; size unknown
                    extract=True,
                ),
            ),
            image_count=2650,
            image_dirs=(f"{EXTRACT_DIR}/Flickr2K/Flickr2K_HR", f"{EXTRACT_DIR}/Flickr2K_HR"),
            image_pattern="*.png",
            layout="extracted/Flickr2K/Flickr2K_HR/000001.png ... (the tar also holds LR folders, unused)",
            notes="archive size unknown; HR folder name as documented by BasicSR (not verified against the tar)",
        ),
        Dataset(
            name="ost",
            title="OutdoorSceneTraining (OST), training part (10,324 images in 7 categories)",
            kind="auto",
            license="OST (SFTGAN, Wang et al. 2018): research use; licence not stated",
            files=(
                RemoteFile(
                    "OST_dataset.zip",
                    ("https://openmmlab.oss-cn-hangzhou.aliyuncs.com/datasets/OST_dataset.zip",),
                    extract=True,  # size and checksum unknown
                ),
            ),
            image_count=10_324,
            image_dirs=(f"{EXTRACT_DIR}/OutdoorSceneTrain_v2", f"{EXTRACT_DIR}/OST_dataset/OutdoorSceneTrain_v2"),
            layout="extracted/OutdoorSceneTrain_v2/{animal,building,grass,mountain,plant,sky,water}/*.png",
            manual=(
                "if the OpenMMLab URL fails, download OutdoorSceneTrain_v2 (and OutdoorSceneTest300) from Google Drive "
                "https://drive.google.com/drive/folders/1iZfzAxAwOpeutz27HC56_y5RNqnsPPKr and put the folders under "
                "data/raw/ost/extracted/"
            ),
            notes="archive size, checksum and inner layout unknown (folder names from the SFTGAN release)",
        ),
    ]


def _realsr_sets() -> list[Dataset]:
    """OST300 and the real-capture test sets (RealSR V3 with its Canon and Nikon views, DRealSR)."""
    gdrive_note = "Google Drive needs a browser"
    return [
        Dataset(
            name="ost300",
            title="OST300 test set (300 images), inside the OST archive",
            kind="auto",
            license="OST (SFTGAN, Wang et al. 2018): research use; licence not stated",
            parent="ost",
            image_count=300,
            image_dirs=(
                f"{EXTRACT_DIR}/OutdoorSceneTest300/OST300_img",
                f"{EXTRACT_DIR}/OutdoorSceneTest300",
                f"{EXTRACT_DIR}/OST300_img",
            ),
            layout="view of ost: extracted/OutdoorSceneTest300/... (OST300_img.zip in the Drive release: unzip it there)",
        ),
        Dataset(
            name="realsr-v3",
            title="RealSR V3 (Cai et al. 2019), Canon + Nikon, x2/x3/x4 pairs",
            kind="manual",
            license="RealSR (Cai et al.): research use; licence not stated",
            files=(RemoteFile("RealSR(V3).tar.gz", (), md5="83e946bf4b5c22b30d1663231bb2e53e", extract=True),),
            image_count=None,
            image_dirs=(f"{EXTRACT_DIR}/RealSR(V3)",),
            layout="extracted/RealSR(V3)/{Canon,Nikon}/{Train,Test}/{2,3,4}/*_HR.png, *_LR{2,3,4}.png",
            manual=(
                f"{gdrive_note}: open https://drive.google.com/file/d/17ZMjo-zwFouxnm_aFM6CUHBwgRrLZqIM "
                "(RealSR(V3).tar.gz, md5 83e946bf4b5c22b30d1663231bb2e53e)"
            ),
            notes="size and sha256 unknown (only md5 is published)",
        ),
        Dataset(
            name="realsr-v3-canon",
            title="RealSR V3 Canon x4 test inputs (LR4)",
            kind="manual",
            license="RealSR (Cai et al.): research use; licence not stated",
            parent="realsr-v3",
            image_count=None,
            image_dirs=(f"{EXTRACT_DIR}/RealSR(V3)/Canon/Test/4",),
            image_pattern="*_LR4.png",
            layout="view of realsr-v3: extracted/RealSR(V3)/Canon/Test/4/*_LR4.png",
            notes="the Canon/Nikon split of the 100 test images is not published (50/50 assumed elsewhere)",
        ),
        Dataset(
            name="realsr-v3-nikon",
            title="RealSR V3 Nikon x4 test inputs (LR4)",
            kind="manual",
            license="RealSR (Cai et al.): research use; licence not stated",
            parent="realsr-v3",
            image_count=None,
            image_dirs=(f"{EXTRACT_DIR}/RealSR(V3)/Nikon/Test/4",),
            image_pattern="*_LR4.png",
            layout="view of realsr-v3: extracted/RealSR(V3)/Nikon/Test/4/*_LR4.png",
        ),
        Dataset(
            name="drealsr",
            title="DRealSR x4 test (93 pairs; Wei et al., CDC)",
            kind="manual",
            license="DRealSR (CDC authors): research use; licence not stated",
            image_count=93,
            image_dirs=("test_LR", ""),
            layout="test_LR/*.png (inputs) and test_HR/*.png; file names unknown",
            manual=(
                "Google Drive folder https://drive.google.com/drive/folders/1_EjDsD2-bBXb0iRonbWI6ihuHquxdna1 "
                "or Baidu https://pan.baidu.com/s/1ey9JF4S5wLnE5Iw5z67R8A (code osiy): take the x4 test set and put "
                "its LR images into data/raw/drealsr/test_LR/ (HR into data/raw/drealsr/test_HR/)"
            ),
            notes="no checksum or file list is published",
        ),
    ]


def _other_test_sets() -> list[Dataset]:
    """The remaining test sets of the paper's Table 1 (DPED iPhone, ADE20K val, ImageNet val)."""
    return [
        Dataset(
            name="dped-iphone",
            title="DPED iPhone test crops (NTIRE 2020 RWSR track 2)",
            kind="manual",
            license="DPED (Ignatov et al.): research use; licence not stated",
            image_count=None,
            layout="*.png directly in the folder",
            manual=(
                "Google Drive https://drive.google.com/open?id=19zlofWRxkhsjf_TuRA2oI9jgozifGvxp "
                "(DPEDiphone-crop-te-x from jixiaozhong/RealSR) or the NTIRE 2020 challenge page "
                "https://competitions.codalab.org/competitions/22220: put the images into data/raw/dped-iphone/"
            ),
            notes="which DPED split the paper used is not stated; count unknown",
        ),
        Dataset(
            name="ade20k-val",
            title="ADE20K validation images (2000)",
            kind="auto",
            license="ADE20K (MIT CSAIL): images under their own terms (scene parsing benchmark); not verified here",
            files=(
                RemoteFile(
                    "ADEChallengeData2016.zip",
                    ("http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip",),
                    sha1="219e1696abb36c8ba3a3afe7fb2f4b4606a897c7",  # only sha1 is published; size unknown
                    extract=True,
                ),
            ),
            image_count=2000,
            image_dirs=(f"{EXTRACT_DIR}/ADEChallengeData2016/images/validation",),
            image_pattern="*.jpg",
            layout="extracted/ADEChallengeData2016/images/validation/ADE_val_*.jpg (the zip also holds training)",
        ),
        Dataset(
            name="imagenet-val",
            title="ImageNet (ILSVRC2012) validation subset",
            kind="manual",
            license="ImageNet terms of access: non-commercial research, account required",
            image_count=None,
            layout="*.JPEG directly in the folder",
            manual=(
                "ImageNet needs a login (https://image-net.org/download-images): download ILSVRC2012_img_val.tar "
                "and put the validation images you evaluate on into data/raw/imagenet-val/"
            ),
            notes="the subset used for Table 1 is not stated",
        ),
    ]


def _demo_sets() -> list[Dataset]:
    """Small real-world input sets (per-file facts in small_sets.json)."""
    return [
        Dataset(
            name="realsrset",
            title="RealSRSet (BSRGAN): 20 real low-quality images",
            kind="auto",
            license="Apache-2.0 (cszn/BSRGAN repository)",
            files=_small_set_files("realsrset"),
            image_count=20,
            image_pattern="*.png",
            layout="*.png directly in the folder",
        ),
        Dataset(
            name="realesrgan-inputs",
            title="Real-ESRGAN demo inputs (incl. alpha, 16-bit and gray cases)",
            kind="auto",
            license="BSD-3-Clause (xinntao/Real-ESRGAN repository)",
            files=_small_set_files("realesrgan-inputs"),
            image_count=9,
            layout="*.png / *.jpg directly in the folder",
        ),
        Dataset(
            name="realset-extra",
            title="extra real LQ images (RealSR Canon LR4, OST300, ADE20K val, others)",
            kind="auto",
            license="Apache-2.0 (kynthesis/StarSRGAN repository); origin of the 00xx images unverified",
            files=_small_set_files("realset-extra"),
            image_count=13,
            layout="*.png / *.jpg directly in the folder",
        ),
    ]


def _sample_sets() -> list[Dataset]:
    """Small HR samples and classic test sets used by the smoke profile and the tests."""
    return [
        Dataset(
            name="sample-hr-cc0",
            title="HQ photos with explicit per-image licences (IBM MAX samples)",
            kind="auto",
            license="CC0 (Pexels) except monkey_and_man.png CC-BY-2.0 (OpenImages); repo Apache-2.0",
            files=_small_set_files("sample-hr-cc0"),
            image_count=10,
            image_pattern="*.png",
            layout="*.png directly in the folder (three are RGBA)",
        ),
        Dataset(
            name="ost300-hr-samples",
            title="three OST300 images (SFTGAN samples)",
            kind="auto",
            license="none stated (xinntao/SFTGAN has no LICENSE file)",
            files=_small_set_files("ost300-hr-samples"),
            image_count=3,
            image_pattern="*.png",
            layout="*.png directly in the folder",
        ),
        Dataset(
            name="urban100-subset",
            title="the three smallest Urban100 HR images",
            kind="auto",
            license="none stated (host repository disclaims ownership)",
            files=_small_set_files("urban100-subset"),
            image_count=3,
            image_pattern="*.png",
            layout="*.png directly in the folder",
        ),
        Dataset(
            name="set5",
            title="Set5 HR (5) + MATLAB-bicubic x4 LR (5)",
            kind="auto",
            license="Apache-2.0 (JingyunLiang/SwinIR repository)",
            files=_small_set_files("set5"),
            image_count=5,
            image_dirs=("HR",),
            image_pattern="*.png",
            layout="HR/*.png and LR_bicubic_X4/*x4.png",
        ),
        Dataset(
            name="set14",
            title="Set14 HR (13, BasicSR mod-crop) + x4 bicubic LR (13)",
            kind="auto",
            license="Apache-2.0 (kynthesis/StarSRGAN repository)",
            files=_small_set_files("set14"),
            image_count=13,
            image_dirs=("HR",),
            image_pattern="*.png",
            layout="HR/*.png and LR_bicubic_X4/*.png",
        ),
    ]


def _build() -> dict[str, Dataset]:
    groups = (_div2k_sets, _flickr2k_ost_sets, _realsr_sets, _other_test_sets, _demo_sets, _sample_sets)
    entries = [d for group in groups for d in group()]
    return {d.name: d for d in entries}


@lru_cache(maxsize=1)
def datasets() -> dict[str, Dataset]:
    """Every registered data set, by name (built on first use: no import-time work)."""
    return _build()


def get(name: str) -> Dataset:
    """The registry entry ``name``; an unknown name is a :class:`UserError` listing the known ones."""
    table = datasets()
    if name not in table:
        raise UsageError(f"unknown dataset {name!r} (known: {', '.join(table)})")
    return table[name]


def storage_dir(root: str | Path, name: str) -> Path:
    """``<root>/<NAME>/`` where the files of ``name`` (its parent's, for a view) are kept."""
    return Path(root) / get(name).storage_name


def image_dir(root: str | Path, name: str) -> Path:
    """The folder holding the images of ``name`` below ``root`` (the first candidate that exists)."""
    ds = get(name)
    base = storage_dir(root, name)
    candidates = [base / d if d else base for d in ds.image_dirs]
    for c in candidates:
        if c.is_dir():
            return c
    tried = ", ".join(str(c) for c in candidates)
    raise UserError(
        f"dataset {name!r}: no image folder found (looked for {tried}); "
        f"run `replication download {ds.storage_name}`"
        + (f" ({ds.manual})" if ds.kind == "manual" and ds.manual else "")
    )


def image_files(root: str | Path, name: str) -> list[Path]:
    """The image files of ``name`` (recursively below its image folder, matching its pattern), sorted."""
    from replication.imageio import (
        IMAGE_SUFFIXES,  # lazy: imageio pulls in torch and OpenCV
    )

    ds = get(name)
    folder = image_dir(root, name)
    files = sorted(
        p
        for p in folder.rglob(ds.image_pattern)
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not files:
        raise UserError(f"dataset {name!r}: no images matching {ds.image_pattern!r} under {folder}")
    return files


def human_bytes(n: int | None) -> str:
    if n is None:
        return "unknown"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


__all__ = [
    "EXTRACT_DIR",
    "MARKER",
    "Dataset",
    "RemoteFile",
    "datasets",
    "get",
    "human_bytes",
    "image_dir",
    "image_files",
    "small_set_file_facts",
    "storage_dir",
]
