"""Oxford Flowers 102 (Nilsback & Zisserman) with its foreground masks, from the user's files.

The manual dir holds what the VGG page offers, extracted or not:
``jpg/image_NNNNN.jpg`` (or ``102flowers.tgz``), ``segmim/segmim_NNNNN.jpg`` (or
``102segmentations.tgz``) and ``setid.mat``.  As ReDO reads them: a pixel of a
segmentation image is background when its red or green is 0 or its blue is 254
(the masks paint the background (0, 0, 254); JPEG moves some of it), images and
masks are resized (nearest) so the short side is ``size`` and centre-cropped,
and the splits are ReDO's: train = ``tstid`` (6,149), validation = ``valid``,
test = ``trnid`` (1,020 each).
"""

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import io as sio

#: split -> the setid.mat key ReDO reads for it
SPLIT_KEYS = {"train": "tstid", "validation": "valid", "test": "trnid"}


def foreground(segmentation: np.ndarray) -> np.ndarray:
    """uint8 ``[H, W]`` 0/1 from a segmentation image ``[H, W, 3]``."""
    r, g, b = (segmentation[..., i] for i in range(3))
    return (~((r == 0) | (g == 0) | (b == 254))).astype(np.uint8)


def resize_crop(image: Image.Image, size: int) -> Image.Image:
    """Nearest-neighbour resize of the short side to ``size``, then a centre crop."""
    w, h = image.size
    scale = size / min(w, h)
    image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.NEAREST)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


class FlowersFiles:
    """The user's files: ``read(kind, number)`` gives the bytes of ``jpg`` or ``segmim``
    number ``number``, from the folder or the archive."""

    ARCHIVES = {"jpg": "102flowers.tgz", "segmim": "102segmentations.tgz"}

    def __init__(self, manual_dir):
        if manual_dir is None or not Path(manual_dir).is_dir():
            raise FileNotFoundError(
                "flowers reads your Oxford Flowers 102 files: put jpg/ (or 102flowers.tgz), "
                "segmim/ (or 102segmentations.tgz) and setid.mat in a directory and set "
                f"config.data.manual_dir to it (got {manual_dir!r})"
            )
        self.dir = Path(manual_dir)
        self._archives: dict[str, dict[str, bytes]] = {}
        if not (self.dir / "setid.mat").exists():
            raise FileNotFoundError(f"no setid.mat (the official splits) in {self.dir}")
        for kind, archive in self.ARCHIVES.items():
            if not (self.dir / kind).is_dir() and not (self.dir / archive).exists():
                raise FileNotFoundError(f"neither {kind}/ nor {archive} in {self.dir}")

    def split_ids(self, split: str) -> np.ndarray:
        return np.asarray(sio.loadmat(self.dir / "setid.mat")[SPLIT_KEYS[split]]).ravel()

    def _name(self, kind: str, number: int) -> str:
        return f"{'image' if kind == 'jpg' else 'segmim'}_{number:05d}.jpg"

    def read(self, kind: str, number: int) -> bytes:
        name = self._name(kind, number)
        if (self.dir / kind).is_dir():
            return (self.dir / kind / name).read_bytes()
        if kind not in self._archives:  # one sequential pass over the archive
            with tarfile.open(self.dir / self.ARCHIVES[kind]) as tar:
                self._archives[kind] = {
                    Path(m.name).name: tar.extractfile(m).read() for m in tar if m.isfile()
                }
        return self._archives[kind][name]

    def example(self, number: int, size: int) -> dict:
        """``image`` uint8 ``[size, size, 3]`` and ``mask`` uint8 ``[size, size]`` (1 flower)."""
        image = Image.open(io.BytesIO(self.read("jpg", number))).convert("RGB")
        seg = Image.open(io.BytesIO(self.read("segmim", number))).convert("RGB")
        mask = Image.fromarray(foreground(np.asarray(seg)) * 255)
        return {
            "image": np.asarray(resize_crop(image, size)),
            "mask": (np.asarray(resize_crop(mask, size)) > 127).astype(np.uint8),
            "number": np.int32(number),
        }
