"""Image grids of scenes, masks and components, as uint8 arrays ready for PNG."""

import numpy as np
from PIL import Image


def _to_uint8(x) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def grid(rows: list[np.ndarray], pad: int = 2) -> np.ndarray:
    """Tile ``rows`` (each ``[N, H, W, 3]`` float in [0, 1]) into one uint8 image.

    Row r, column n shows ``rows[r][n]``; ``pad`` white pixels between tiles.
    """
    n, h, w, _ = rows[0].shape
    out = np.full((len(rows) * (h + pad) + pad, n * (w + pad) + pad, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for i in range(n):
            y, x = pad + r * (h + pad), pad + i * (w + pad)
            out[y : y + h, x : x + w] = _to_uint8(row[i])
    return out


def label_rows(image: np.ndarray, labels: list[str], pad: int = 2, width: int = 70) -> np.ndarray:
    """``image`` (a ``grid`` of ``len(labels)`` equal rows) with each row's label written in a
    white strip on its left: ``width`` pixels, or wider where a label needs it."""
    from PIL import ImageDraw

    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = max(width, *(int(measure.textlength(t)) + 4 for t in labels))
    strip = Image.new("RGB", (width, image.shape[0]), "white")
    draw = ImageDraw.Draw(strip)
    row_h = (image.shape[0] - pad) / len(labels)
    for r, text in enumerate(labels):
        draw.text((2, pad + r * row_h + row_h / 2 - 5), text, fill="black")
    return np.concatenate([np.asarray(strip), image], axis=1)


def palette(k: int) -> np.ndarray:
    """``[k, 3]`` distinct colours in [0, 1] for segment ids."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if k <= 10 else "tab20"]
    return np.asarray([cmap(i % cmap.N)[:3] for i in range(k)], np.float32)


def segmentation_overlay(images, log_masks, alpha: float = 0.5) -> np.ndarray:
    """``[B, H, W, 3]``: the argmax segment's colour blended over the image."""
    masks = np.exp(np.asarray(log_masks))[..., 0]  # [B, K, H, W]
    seg = masks.argmax(axis=1)
    colours = palette(masks.shape[1])[seg]
    return (1 - alpha) * np.asarray(images) + alpha * colours


def scene_rows(images, recon, log_masks, components, num: int = 8) -> list[np.ndarray]:
    """Rows: input, reconstruction, segmentation, then per component k its mask and
    its masked appearance ``m_k * x_k``."""
    images, recon = np.asarray(images)[:num], np.asarray(recon)[:num]
    masks = np.exp(np.asarray(log_masks)[:num])  # [B, K, H, W, 1]
    comps = np.asarray(components)[:num]
    rows = [images, recon, segmentation_overlay(images, log_masks[:num])]
    for k in range(masks.shape[1]):
        rows.append(np.repeat(masks[:, k], 3, axis=-1))
        rows.append(masks[:, k] * comps[:, k])
    return rows


def save_png(array: np.ndarray, path, scale: int = 2) -> None:
    img = Image.fromarray(array)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    img.save(path)


def component_by_component(log_masks, components) -> list[np.ndarray]:
    """Rows showing a scene built up one component at a time, in the model's order.

    Row k (k = 1..K) is ``sum_{j <= k} m_j * x_j``: the first k components painted
    into their masks, the scope not yet explained left black.  The last row is the
    full composition.  ``log_masks [N, K, H, W, 1]``, ``components [N, K, H, W, C]``.
    """
    parts = np.exp(np.asarray(log_masks)) * np.asarray(components)  # [N, K, H, W, C]
    partial = np.cumsum(parts, axis=1)
    return [partial[:, k] for k in range(partial.shape[1])]


def scene_row_labels(num_components: int) -> list[str]:
    """The labels of ``scene_rows``'s rows."""
    labels = ["input", "reconstruction", "segmentation"]
    for k in range(1, num_components + 1):
        labels += [f"mask {k}", f"component {k}"]
    return labels


def reconstruction_grid(spec, images, outputs, num: int = 8) -> np.ndarray:
    """Labelled uint8 grid of ``num`` inputs (uint8, as stored) and ``outputs`` (``recon``,
    and with masks ``log_masks`` / ``components``); ``spec`` is the model's ``InputSpec``."""
    x = spec.preprocess(np.asarray(images[:num]))
    x = spec.to_unit(x)
    recon = np.clip(spec.to_unit(np.asarray(outputs.recon[:num])), 0.0, 1.0)
    if getattr(outputs, "log_masks", None) is not None:
        comps = spec.to_unit(np.asarray(outputs.components[:num]))
        log_masks = np.asarray(outputs.log_masks[:num])
        rows = scene_rows(x, recon, log_masks, comps, num)
        return label_rows(grid(rows), scene_row_labels(log_masks.shape[1]))
    return label_rows(grid([x, recon]), ["input", "reconstruction"])


def sample_grid(spec, samples) -> np.ndarray:
    """One labelled row of the composed prior samples ``samples.recon``."""
    x = np.clip(spec.to_unit(np.asarray(samples.recon)), 0.0, 1.0)
    return label_rows(grid([x]), ["samples"])


def draw_boxes(images, boxes, present, width: int = 1) -> np.ndarray:
    """``images [N, H, W, 3]`` in [0, 1] with box ``t`` of ``boxes [N, T, 4]`` (y0, x0, y1, x1
    pixel edges) outlined in ``palette(T)[t]`` where ``present [N, T]``; parts outside the
    image are cut off."""
    from PIL import ImageDraw

    colours = [tuple(int(v) for v in _to_uint8(c)) for c in palette(boxes.shape[1])]
    out = []
    for image, rows, shown in zip(_to_uint8(images), np.asarray(boxes), present, strict=True):
        pic = Image.fromarray(image)
        draw = ImageDraw.Draw(pic)
        for (y0, x0, y1, x1), colour, on in zip(
            np.round(rows).astype(int), colours, shown, strict=True
        ):
            if on:  # PIL's corners are the first and last pixel inside: edges minus one
                draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=width)
        out.append(np.asarray(pic, np.float32) / 255.0)
    return np.stack(out)


def box_grid(
    spec, images, recon, boxes, present, windows, labels=("input + boxes", "reconstruction")
) -> np.ndarray:
    """AIR's picture: inputs and reconstructions with each step's box in its own colour,
    then each step's window (``windows [N, T, A, A]``, resized to the image, dark when the
    step is off); ``labels`` name the first two rows."""
    x = spec.to_unit(spec.preprocess(np.asarray(images)))
    r = np.clip(spec.to_unit(np.asarray(recon)), 0.0, 1.0)
    rows = [draw_boxes(x, boxes, present), draw_boxes(r, boxes, present)]
    labels = list(labels)
    n, h, w, _ = x.shape
    for t in range(windows.shape[1]):
        win = (
            np.asarray(windows[:, t], np.float32)
            * np.asarray(present[:, t], np.float32)[:, None, None]
        )
        big = (
            np.stack([np.asarray(Image.fromarray(_to_uint8(v)).resize((w, h))) for v in win])
            / 255.0
        )
        colour = palette(windows.shape[1])[t]
        rows.append(big[..., None] * colour)
        labels.append(f"step {t + 1} window")
    return label_rows(grid(rows), labels)
