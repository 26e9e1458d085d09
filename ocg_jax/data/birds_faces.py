"""CUB-200-2011 and LFW with their foreground masks, from the user's files, as ReDO reads them.

CUB (Wah et al.): the manual dir is the extracted ``CUB_200_2011/CUB_200_2011`` folder:
``images.txt``, ``images/<class>/<name>.jpg``, ``segmentations/<class>/<name>.png`` (the
separate segmentation download, placed there) and ReDO's ``train_val_test_split.txt``
(``datasplits/cub/`` of github.com/mickaelChen/ReDO: id, then 0 train, 1 validation,
2 test: 10,000 / 788 / 1,000).  A pixel is foreground where the segmentation is above
0.5; grey images are repeated to RGB.

LFW (the funneled images; Kae et al.'s part labels): the manual dir holds
``lfw_funneled/<person>/<name>.jpg``, ``parts_lfw_funneled_gt_images/<name>.ppm`` and
ReDO's ``train.txt``, ``val.txt``, ``test.txt`` (``datasplits/lfw-funneled/``: lines
"person name"; 10,306 / 1,327 / 1,600).  The foreground is face and hair: a part
label whose blue (the background's colour) is below half.  The train split has no
labels (ReDO's neither): its ``mask`` is all 0 and ``labelled`` is 0.

Both: resized (nearest) so the short side is ``size``, then centre-cropped, as ReDO's
``Resize(size, NEAREST)`` and ``CenterCrop(size)``.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from ocg_jax.data.flowers import resize_crop

SPLITS = ("train", "validation", "test")
REDO = "github.com/mickaelChen/ReDO"


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"no {path.name} in {path.parent}: {what}")
    return path


def _as_mask(array: np.ndarray, size: int) -> np.ndarray:
    return (np.asarray(resize_crop(Image.fromarray(array * 255), size)) > 127).astype(np.uint8)


def _check_dir(manual_dir, name: str, holds: str) -> Path:
    if manual_dir is None or not Path(manual_dir).is_dir():
        raise FileNotFoundError(
            f"{name} reads your files: put {holds} in a directory and set "
            f"config.data.manual_dir to it (got {manual_dir!r})"
        )
    return Path(manual_dir)


class CUBFiles:
    """The user's CUB-200-2011 folder: ``split_ids(split)``, ``example(id, size)``."""

    def __init__(self, manual_dir):
        self.dir = _check_dir(
            manual_dir,
            "cub",
            "CUB_200_2011/CUB_200_2011 (images.txt, "
            f"images/, segmentations/ and {REDO}'s train_val_test_split.txt)",
        )
        names = np.loadtxt(_need(self.dir / "images.txt", "CUB's list of images"), str)
        self.names = dict(zip(names[:, 0].astype(int), names[:, 1], strict=True))
        split = _need(self.dir / "train_val_test_split.txt", f"ReDO's split, in {REDO}")
        self.splits = np.loadtxt(split, int).reshape(-1, 2)

    def split_ids(self, split: str) -> list[int]:
        return [int(i) for i, s in self.splits if s == SPLITS.index(split)]

    def example(self, image_id: int, size: int) -> dict:
        name = self.names[image_id]
        image = Image.open(self.dir / "images" / name).convert("RGB")
        seg = np.asarray(Image.open(self.dir / "segmentations" / f"{name[:-4]}.png").convert("L"))
        return {
            "image": np.asarray(resize_crop(image, size)),
            "mask": _as_mask((seg > 127).astype(np.uint8), size),
            "number": np.int32(image_id),
        }


class LFWFiles:
    """The user's LFW folder: ``split_names(split)``, ``example(person, name, size)``."""

    LISTS = {"train": "train.txt", "validation": "val.txt", "test": "test.txt"}

    def __init__(self, manual_dir):
        self.dir = _check_dir(manual_dir, "lfw", "lfw_funneled/, parts_lfw_funneled_gt_images/ "
                              f"and {REDO}'s train.txt, val.txt and test.txt")  # fmt: skip
        for sub in ("lfw_funneled", "parts_lfw_funneled_gt_images"):
            _need(self.dir / sub, "the funneled images and the part labels, extracted")
        for name in self.LISTS.values():
            _need(self.dir / name, f"ReDO's split lists, in {REDO}")

    def split_names(self, split: str) -> list[tuple[str, str]]:
        lines = (self.dir / self.LISTS[split]).read_text().split("\n")
        return [tuple(line.split()) for line in lines if line.strip()]

    def example(self, person: str, name: str, size: int, labelled: bool) -> dict:
        image = Image.open(self.dir / "lfw_funneled" / person / f"{name}.jpg").convert("RGB")
        image = np.asarray(resize_crop(image, size))
        mask = np.zeros((size, size), np.uint8)
        if labelled:
            parts = np.asarray(
                Image.open(self.dir / "parts_lfw_funneled_gt_images" / f"{name}.ppm")
            )
            mask = _as_mask((parts[..., 2] < 128).astype(np.uint8), size)
        return {"image": image, "mask": mask, "labelled": np.int32(labelled)}
