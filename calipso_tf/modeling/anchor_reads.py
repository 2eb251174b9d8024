"""The head's branch convolutions evaluated only at chosen anchors (the read-only head).

The losses read the maps at the assigned anchors and the decoder at the anchors of each
detected box: a few thousand of the N anchors, while the dense branches cost most of the
forward pass. A 3x3 'same' convolution at one position is the 3x3xC input patch there
(zeros outside the map) times the kernel reshaped to (9C, A x out); anchor a of that
position needs only its own ``out`` columns. So each read anchor costs one (9C) x (9C, out)
product instead of every anchor of every position costing (9C) x (9C, A x out).

Anchor indices are the flat ones of the dense maps: levels P3..P7 one after another, each
(row, column, anchor) in row-major order (calipso_tf.ops.anchors).
"""

from __future__ import annotations

import tensorflow as tf

# Read anchors are grouped by kernel (anchor type, and level when heads are not shared) and
# padded to whole tiles, about this many per group: the padding adds at most rows / TILES_PER_GROUP
# rows of work, and one kernel copy per tile stays few copies (hico_det: 27 tiles for 4,096 reads).
TILES_PER_GROUP = 2


def gather_patches(features: list[tf.Tensor], anchor_index: tf.Tensor, anchors_per_location: int):
    """The 3x3 input patch of each read anchor.

    Args:
      features: per level (B, h_l, w_l, C), the tower outputs P3 first.
      anchor_index: (B, K) int flat anchor indices into the concatenated levels.
      anchors_per_location: A.

    Returns:
      patches (B, K, 9C) in the (row, column, channel) order of a reshaped Conv2D kernel,
      zeros where the patch leaves the map; level (B, K) int32, the level's position in
      ``features``; anchor (B, K) int32, the anchor type a in [0, A).
    """
    index = tf.cast(anchor_index, tf.int32)
    sizes = tf.stack([tf.shape(f)[1:3] for f in features])  # (L, 2)
    heights, widths = sizes[:, 0], sizes[:, 1]
    counts = heights * widths * anchors_per_location
    starts = tf.cumsum(counts, exclusive=True)
    padded_starts = tf.cumsum((heights + 2) * (widths + 2), exclusive=True)
    level = tf.reduce_sum(tf.cast(index[..., None] >= starts[1:], tf.int32), axis=-1)
    local = index - tf.gather(starts, level)
    position, anchor = local // anchors_per_location, local % anchors_per_location
    width = tf.gather(widths, level)
    row, col = position // width, position % width
    offsets = tf.range(3)
    # (B, K, 3, 3) rows of the zero-padded (h + 2, w + 2) maps, all levels in one table.
    rows = tf.gather(padded_starts, level)[..., None, None] + (row[..., None, None] + offsets[:, None]) * (
        width[..., None, None] + 2) + col[..., None, None] + offsets
    table = tf.concat([tf.reshape(tf.pad(f, [[0, 0], [1, 1], [1, 1], [0, 0]]), [tf.shape(f)[0], -1, f.shape[-1]])
                       for f in features], axis=1)  # (B, P, C)
    batch, num = tf.shape(index)[0], tf.shape(index)[1]
    patches = tf.gather(table, tf.reshape(rows, [batch, -1]), batch_dims=1)  # (B, 9K, C)
    return tf.reshape(patches, [batch, num, 9 * features[0].shape[-1]]), level, anchor


def tile_layout(rows, num_groups: int):
    """(rows per tile, tiles) of `grouped_matmul` for ``rows`` rows in ``num_groups`` groups;
    rows an int or an int32 tensor. Every group fits: the sum over groups of
    ceil(n_g / tile) is at most rows / tile + num_groups."""
    tile = rows // (TILES_PER_GROUP * num_groups) + 1
    return tile, rows // tile + num_groups + 1


def grouped_matmul(x: tf.Tensor, groups: tf.Tensor, kernels: tf.Tensor) -> tf.Tensor:
    """Row s of x times its group's kernel: (S, P), (S,) int in [0, G), (P, G, O) -> (S, O).

    Rows are placed group by group into tiles of one group each (padding rows are zero),
    so the work is one batched matmul over the tiles with one gathered kernel per tile:
    static shapes (XLA compiles it) and about S x P x O multiply-adds, not G times that.
    """
    num_groups = kernels.shape[1]
    tile, num_tiles = tile_layout(tf.shape(x)[0], num_groups)
    one_hot = tf.one_hot(groups, num_groups, dtype=tf.int32)  # (S, G)
    rank = tf.reduce_sum(tf.cumsum(one_hot, axis=0, exclusive=True) * one_hot, axis=1)
    group_tiles = -(-tf.reduce_sum(one_hot, axis=0) // tile)
    group_end = tf.cumsum(group_tiles)  # in tiles
    destination = tf.gather((group_end - group_tiles) * tile, groups) + rank  # (S,)
    tile_group = tf.minimum(tf.reduce_sum(tf.cast(tf.range(num_tiles)[:, None] >= group_end, tf.int32), axis=1),
                            num_groups - 1)
    tiled = tf.scatter_nd(destination[:, None], x, tf.stack([num_tiles * tile, tf.shape(x)[1]]))
    tiled = tf.reshape(tiled, [num_tiles, tile, -1])
    out = tf.einsum("tsp,pto->tso", tiled, tf.gather(kernels, tile_group, axis=1))
    return tf.gather(tf.reshape(out, [num_tiles * tile, -1]), destination)


def read_branches(heads: list, features: list[tf.Tensor], anchor_index: tf.Tensor) -> dict[str, tf.Tensor]:
    """The branch outputs of the heads at the given anchors, equal to the dense maps there.

    Args:
      heads: the InteractionHead of each level (the same object when shared).
      features: per level (B, h_l, w_l, C), the heads' tower outputs.
      anchor_index: (B, K) int flat anchor indices.

    Returns:
      The keys of the dense maps, each (B, K, ...) instead of (B, N, ...): "verb_logits"
      (B, K, 2V or V), "embeddings" (B, K, V, T), "target_logits" (B, K, V) when present.
    """
    head = heads[0]
    per_location = head.anchors_per_location
    patches, level, anchor = gather_patches(features, anchor_index, per_location)
    distinct = list({id(h): h for h in heads}.values())
    # Kernel group: the anchor type, per level too when every level has its own head.
    groups = anchor if len(distinct) == 1 else level * per_location + anchor
    shapes = head.branch_shapes
    kernels, biases, widths = [], [], []
    for key in shapes:
        convs = [h.branch_convs[key] for h in heads] if len(distinct) > 1 else [head.branch_convs[key]]
        width = head.branch_convs[key].filters // per_location
        kernels.append(tf.concat([tf.reshape(tf.cast(c.kernel, patches.dtype), [-1, per_location, width])
                                  for c in convs], axis=1))
        biases.append(tf.concat([tf.reshape(tf.cast(c.bias, patches.dtype), [per_location, width])
                                 for c in convs], axis=0))
        widths.append(width)
    batch, num = tf.shape(anchor_index)[0], tf.shape(anchor_index)[1]
    flat_groups = tf.reshape(groups, [-1])
    out = grouped_matmul(tf.reshape(patches, [batch * num, -1]), flat_groups, tf.concat(kernels, axis=2))
    out += tf.gather(tf.concat(biases, axis=1), flat_groups)
    return {key: tf.reshape(part, tf.concat([[batch, num], shapes[key]], axis=0))
            for key, part in zip(shapes, tf.split(out, widths, axis=1))}
