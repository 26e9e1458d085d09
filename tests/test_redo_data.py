"""ReDO's data: the procedural foreground / background scenes, the digits check, and Oxford
Flowers 102 read from the user's files (tested on tiny JPEGs in that layout)."""

import tarfile

import numpy as np
import pytest
from PIL import Image
from scipy import io as sio

from ocg_jax.data.fg_bg import fg_bg_scene
from ocg_jax.data.flowers import FlowersFiles, foreground, resize_crop
from ocg_jax.data.pipeline import load_examples, load_source


def test_fg_bg_scenes(data_dir):
    ex = load_examples(load_source("fg_bg", "tiny", "train", data_dir), 64)
    assert ex["image"].shape == (64, 64, 64, 3) and ex["mask"].shape == (64, 64, 64)
    area = ex["mask"].mean(axis=(1, 2))
    assert area.min() > 0.04 and area.max() < 0.5  # one large object, never the whole image
    assert set(np.unique(ex["kind"])) == {0, 1, 2, 3}  # the three shapes and blobs
    for image, mask in zip(ex["image"].astype(float), ex["mask"].astype(bool), strict=True):
        fg, bg = image[mask].mean(0), image[~mask].mean(0)
        assert np.abs(fg - bg).sum() > 40  # the regions differ in colour
        assert image[~mask].std(0).max() > 3  # and the background is textured
    a, b = (fg_bg_scene(np.random.default_rng(7), 128) for _ in range(2))
    np.testing.assert_array_equal(a["image"], b["image"])  # deterministic
    assert a["image"].shape == (128, 128, 3)
    test = load_examples(load_source("fg_bg", "tiny", "test", data_dir), 16)
    assert not np.array_equal(test["image"], ex["image"][:16])


def test_redo_digits_check(data_dir):
    """As the original's coloured MNIST: one even (dark, g = b) and one odd (bright, r = b)
    digit per image on a background with r = g, each colour drawn per image."""
    ex = load_examples(load_source("fg_bg", "digits_tiny", "train", data_dir), 16)
    assert ex["image"].shape == (16, 128, 128, 3)
    backgrounds = set()
    for image, mask in zip(ex["image"].astype(int), ex["mask"], strict=True):
        assert set(np.unique(mask)) == {0, 1, 2}  # exactly one even and one odd digit
        bg, dark, bright = (np.unique(image[mask == k], axis=0) for k in range(3))
        assert len(bg) == len(dark) == len(bright) == 1  # one colour each
        (bg,), (dark,), (bright,) = bg, dark, bright
        assert bg[0] == bg[1] and 84 <= bg.min() and bg.max() <= 169
        assert dark[1] == dark[2] and dark.max() <= 85
        assert bright[0] == bright[2] and bright.min() >= 168
        backgrounds.add(tuple(bg))
    assert len(backgrounds) > 8  # random per image


def _flowers_files(root, numbers, archive=False):
    """Tiny Flowers 102 files: JPEGs of several aspect ratios with a rectangular flower on a
    (0, 0, 254) background in the segmentation; returns each image's true mask fraction."""
    rng = np.random.default_rng(0)
    (root / "jpg").mkdir(parents=True)
    (root / "segmim").mkdir()
    fractions = {}
    for n in numbers:
        h, w = (60, 80) if n % 2 else (90, 60)
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        seg = np.zeros((h, w, 3), np.uint8)
        seg[...] = (0, 0, 254)
        top, left = h // 4, w // 4
        seg[top : h - top, left : w - left] = (200, 120, 60)
        Image.fromarray(image).save(root / "jpg" / f"image_{n:05d}.jpg", quality=95)
        Image.fromarray(seg).save(root / "segmim" / f"segmim_{n:05d}.jpg", quality=95)
        fractions[n] = foreground(seg).mean()
    if archive:  # as downloaded: jpg/ inside 102flowers.tgz
        with tarfile.open(root / "102flowers.tgz", "w:gz") as tar:
            tar.add(root / "jpg", arcname="jpg")
        for f in (root / "jpg").iterdir():
            f.unlink()
        (root / "jpg").rmdir()
    sio.savemat(
        root / "setid.mat",
        {"trnid": np.array([[1, 2]]), "valid": np.array([[3]]), "tstid": np.array([[4, 5, 6]])},
    )
    return fractions


@pytest.mark.parametrize("archive", [False, True])
def test_flowers_from_the_users_files(tmp_path, archive):
    manual = tmp_path / "flowers"
    _flowers_files(manual, range(1, 7), archive)
    source = lambda split: load_source(
        "flowers", "64", split, str(tmp_path / "tfds"), manual_dir=str(manual)
    )
    assert [len(source(s)) for s in ("train", "validation", "test")] == [3, 1, 2]  # ReDO's
    ex = load_examples(source("train"), 3)
    assert sorted(ex["number"].tolist()) == [4, 5, 6]
    assert ex["image"].shape == (3, 64, 64, 3) and set(np.unique(ex["mask"])) == {0, 1}
    for mask, number in zip(ex["mask"], ex["number"], strict=True):
        # the centred rectangle, scaled so the short side is 64 and centre-cropped; JPEG's
        # ringing makes a ring of background count as flower (the original's rule does too)
        h, w = (60, 80) if number % 2 else (90, 60)
        rect = np.zeros((h, w), np.uint8)
        rect[h // 4 : h - h // 4, w // 4 : w - w // 4] = 255
        want = np.asarray(resize_crop(Image.fromarray(rect), 64)) > 127
        assert np.mean(mask.astype(bool) != want) < 0.12
        assert mask[32, 32] == 1 and mask[0, 0] == mask[-1, -1] == 0


def test_flowers_mask_rule_and_missing_files(tmp_path):
    seg = np.array([[[0, 0, 254], [3, 0, 250], [200, 120, 60], [10, 20, 254]]], np.uint8)
    np.testing.assert_array_equal(foreground(seg), [[0, 0, 1, 0]])
    with pytest.raises(FileNotFoundError, match="setid.mat"):
        FlowersFiles(tmp_path)
    with pytest.raises(FileNotFoundError, match="config.data.manual_dir"):
        load_source("flowers", "64", "train", str(tmp_path / "tfds"))


def test_foreground_protocols_against_sklearn():
    from sklearn.metrics import accuracy_score, jaccard_score

    from ocg_jax.metrics import best_region_scores, choose_region, region_scores

    rng = np.random.default_rng(0)
    truth = rng.random((6, 16, 16)) < 0.3
    m = np.where(truth, 0.8, 0.2) + rng.normal(0, 0.25, truth.shape)  # region 0 ~ foreground
    m = np.clip(m, 0, 1)
    m[3] = 1 - m[3]  # in image 3 the regions are swapped
    masks = np.stack([m, 1 - m], axis=1).astype(np.float32)
    fixed = region_scores(masks, truth, 0)
    for i in range(6):
        pred = masks[i, 0] > 0.5
        want_iou = jaccard_score(truth[i].ravel(), pred.ravel())
        np.testing.assert_allclose(fixed["iou"][i], want_iou, rtol=1e-6)
        np.testing.assert_allclose(
            fixed["accuracy"][i], accuracy_score(truth[i].ravel(), pred.ravel())
        )
    best = best_region_scores(masks, truth)
    assert best["iou"][3] > 0.5 > fixed["iou"][3]  # the lenient protocol takes the swap
    np.testing.assert_allclose(np.delete(best["iou"], 3), np.delete(fixed["iou"], 3))
    assert choose_region(masks, truth) == 0 and choose_region(masks[:, ::-1], truth) == 1
    with pytest.raises(ValueError, match=r"\[B, n, H, W\]"):
        region_scores(masks[:, 0], truth, 0)


def test_camouflage_scenes_share_colours_and_differ_in_texture(data_dir):
    from ocg_jax.data.camouflage import KINDS

    for config, size in (("camouflage_tiny", 64), ("camouflage_tiny_32", 32)):
        ex = load_examples(load_source("fg_bg", config, "train", data_dir), 64)
        assert ex["image"].shape == (64, size, size, 3) and set(np.unique(ex["mask"])) == {0, 1}
        assert set(np.unique(ex["kind"])) <= set(range(len(KINDS)))
        shared = []  # per image: the share of object pixels in a colour the background has
        for image, mask in zip(ex["image"], ex["mask"], strict=True):
            obj, bg = image[mask == 1], {tuple(c) for c in image[mask == 0]}
            shared.append(np.mean([tuple(c) in bg for c in obj]))
        # the object's colours are the background's: colour alone cannot split them
        assert min(shared) == 1.0, shared
    from ocg_jax.data.builders import example_rng
    from ocg_jax.data.camouflage import camouflage_scene
    from ocg_jax.data.digits import sklearn_digits

    digits = sklearn_digits()["train"]  # the same scenes again (tfds stores them shuffled)
    remade = {camouflage_scene(example_rng(0, "train", i), digits, 32)["image"].tobytes()
              for i in range(64)}  # fmt: skip
    assert remade == {image.tobytes() for image in ex["image"]}


def test_textures_scenes_paint_the_object_in_colours_of_its_own(data_dir):
    """``textures_*``: camouflage's patterns and objects, the object's palette drawn apart
    from the background's (ReDO's independence), so it shares no colour with it; the colour
    rules still find little (both at most 0.6 IoU)."""
    from ocg_jax.analysis.colour_rules import RULES
    from ocg_jax.analysis.foreground import rule_scores

    ex = load_examples(load_source("fg_bg", "textures_tiny_32", "train", data_dir), 64)
    assert ex["image"].shape == (64, 32, 32, 3) and set(np.unique(ex["mask"])) == {0, 1}
    for image, mask in zip(ex["image"], ex["mask"], strict=True):
        obj, bg = {tuple(c) for c in image[mask == 1]}, {tuple(c) for c in image[mask == 0]}
        assert not obj & bg
    for name, rule in RULES.items():
        scores = rule_scores(rule(ex["image"]), ex["mask"])
        assert scores["best_region_per_image"]["iou"] <= 0.6, name


def test_colour_rules_find_fg_bg_objects_but_not_camouflaged_ones(data_dir):
    """The trivial baselines beside ReDO's numbers: on fg_bg (an object of its own colour)
    two-means from the border finds the objects; on camouflage neither rule does."""
    from ocg_jax.analysis.colour_rules import RULES
    from ocg_jax.analysis.foreground import rule_scores

    def ious(config):
        ex = load_examples(load_source("fg_bg", config, "train", data_dir), 64)
        return {n: rule_scores(r(ex["image"]), ex["mask"]) for n, r in RULES.items()}

    plain, camouflage = ious("tiny"), ious("camouflage_tiny")
    assert plain["two_means"]["fixed_region"]["iou"] > 0.85
    for name in RULES:
        for protocol in ("best_region_per_image", "fixed_region"):
            assert camouflage[name][protocol]["iou"] <= 0.6, (name, protocol)


def test_colour_rules_table_scores_each_config_on_its_test_images(data_dir):
    """The docs' table of the rules (``python -m experiments.tools.colour_rules_table``): a row per
    config, each rule's IoU under both protocols as ``rule_scores`` gives it."""
    from ocg_jax.analysis.colour_rules import two_means
    from ocg_jax.analysis.foreground import colour_rules_table, rule_scores

    lines = colour_rules_table(["tiny", "camouflage_tiny"], 500, data_dir).splitlines()
    assert len(lines) == 4 and lines[2].startswith("| `tiny` | 16 |")  # all 16 test images
    ex = load_examples(load_source("fg_bg", "camouflage_tiny", "test", data_dir), 16)
    direct = rule_scores(two_means(ex["image"]), ex["mask"])
    cell = lines[3].split("|")[3].strip()
    expected = [direct[p]["iou"] for p in ("best_region_per_image", "fixed_region")]
    assert [float(x) for x in cell.split(" / ")] == pytest.approx(expected, abs=5e-4)


def test_otsu_threshold_maximises_the_between_class_variance():
    from ocg_jax.analysis.colour_rules import otsu_threshold

    values = np.concatenate([np.random.default_rng(0).normal(m, 0.1, 500) for m in (0.2, 0.9)])
    t = otsu_threshold(values)

    def between(cut):
        lo, hi = values[values <= cut], values[values > cut]
        return len(lo) * len(hi) * (lo.mean() - hi.mean()) ** 2

    cuts = np.linspace(0.3, 0.8, 101)
    best = cuts[np.argmax([between(c) for c in cuts])]
    assert abs(t - best) < 0.02 and 0.4 < t < 0.7
    assert otsu_threshold(np.full(10, 0.5)) == 0.5  # one value: nothing above it


def _jpeg(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, quality=95)


def _rectangle(h, w, value=255, dtype=np.uint8):
    m = np.zeros((h, w), dtype)
    m[h // 4 : h - h // 4, w // 4 : w - w // 4] = value
    return m


def test_cub_from_the_users_files(tmp_path):
    """CUB's layout: images.txt, images/ and segmentations/ per class, ReDO's split file."""
    root = tmp_path / "CUB_200_2011"
    names = [f"001.Albatross/bird_{i}.jpg" for i in range(1, 6)]
    (root).mkdir()
    (root / "images.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(names, 1)))
    (root / "train_val_test_split.txt").write_text("1 0\n2 0\n3 1\n4 2\n5 2\n")
    for n in names:
        grey = n.endswith("2.jpg")  # CUB has a few grey images
        img = np.full((60, 80) if grey else (60, 80, 3), 90, np.uint8)
        _jpeg(root / "images" / n, img)
        seg = root / "segmentations" / n.replace(".jpg", ".png")
        seg.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_rectangle(60, 80)).save(seg)
    source = lambda split: load_source("cub", "64", split, str(tmp_path / "tfds"),
                                       manual_dir=str(root))  # fmt: skip
    assert [len(source(s)) for s in ("train", "validation", "test")] == [2, 1, 2]
    ex = load_examples(source("test"), 2)
    assert sorted(ex["number"].tolist()) == [4, 5] and ex["image"].shape == (2, 64, 64, 3)
    want = np.asarray(resize_crop(Image.fromarray(_rectangle(60, 80)), 64)) > 127
    np.testing.assert_array_equal(ex["mask"][0].astype(bool), want)
    (root / "train_val_test_split.txt").unlink()
    with pytest.raises(FileNotFoundError, match="train_val_test_split.txt.*mickaelChen/ReDO"):
        load_source("cub", "128", "train", str(tmp_path / "tfds2"), manual_dir=str(root))


def test_lfw_from_the_users_files(tmp_path):
    """LFW's layout: lfw_funneled/<person>/, the part labels (.ppm: red hair, green face,
    blue background), ReDO's three lists; the train split is unlabelled."""
    root = tmp_path / "lfw"
    people = [("Ann_Lee", f"Ann_Lee_000{i}") for i in range(1, 5)]
    for person, name in people:
        _jpeg(root / "lfw_funneled" / person / f"{name}.jpg", np.full((70, 70, 3), 120, np.uint8))
        parts = np.zeros((70, 70, 3), np.uint8)
        parts[..., 2] = 255 - _rectangle(70, 70)  # background blue outside the rectangle
        parts[..., 1] = _rectangle(70, 70)  # face inside
        ppm = root / "parts_lfw_funneled_gt_images" / f"{name}.ppm"
        ppm.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(parts).save(ppm)
    lines = [f"{p} {n}\n" for p, n in people]
    (root / "train.txt").write_text("".join(lines[:2]))
    (root / "val.txt").write_text(lines[2])
    (root / "test.txt").write_text(lines[3])
    source = lambda split: load_source("lfw", "64", split, str(tmp_path / "tfds"),
                                       manual_dir=str(root))  # fmt: skip
    assert [len(source(s)) for s in ("train", "validation", "test")] == [2, 1, 1]
    test = load_examples(source("test"), 1)
    want = np.asarray(resize_crop(Image.fromarray(_rectangle(70, 70)), 64)) > 127
    np.testing.assert_array_equal(test["mask"][0].astype(bool), want)
    assert test["labelled"][0] == 1
    train = load_examples(source("train"), 2)
    assert (train["labelled"] == 0).all() and train["mask"].max() == 0
    with pytest.raises(FileNotFoundError, match="config.data.manual_dir"):
        load_source("lfw", "64", "train", str(tmp_path / "tfds3"))
