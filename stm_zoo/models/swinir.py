"""SwinIR (light) for grayscale denoising: Liang et al. 2021, "SwinIR: Image Restoration Using Swin Transformer".

Shallow 3x3 conv -> residual Swin transformer blocks (RSTB: Swin layers with window self-attention, shifted
windows on every second layer, relative position bias; a 3x3 conv and a residual per RSTB) -> LayerNorm ->
3x3 conv + long skip -> 3x3 conv to one channel + the (padded) input. The input is reflect-padded to a
multiple of the window size and the output cropped back, as the official `check_image_size` does.

Defaults are the paper's light configuration (embed dim 60, depths 4x6, heads 6, window 8, MLP ratio 2,
'1conv' residual) with the denoising head (no upsampler, input added to the output). Published SwinIR has no
light *denoising* model; the light model was published for super-resolution. Differences from the official
PyTorch code: no stochastic depth (drop_path) during training, and the shift is kept even when the padded
image is a single window (the official code disables it there).
"""

import numpy as np
import keras
from keras import layers, ops

from stm_zoo.models.layers import CropToMatch, PadToMultiple
from stm_zoo.models.registry import register


def window_partition(x, window_size: int):
    """(B, H, W, C) with H, W multiples of `window_size` -> (B * nW, window_size**2, C), windows row-major."""
    b, h, w, c = ops.shape(x)
    x = ops.reshape(x, (b, h // window_size, window_size, w // window_size, window_size, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, window_size * window_size, c))


def window_reverse(windows, window_size: int, h, w):
    """Inverse of `window_partition`: (B * nW, window_size**2, C) -> (B, H, W, C)."""
    c = ops.shape(windows)[-1]
    x = ops.reshape(windows, (-1, h // window_size, w // window_size, window_size, window_size, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, h, w, c))


def shifted_window_mask(h, w, window_size: int, shift: int):
    """Additive attention mask (nW, N, N) for windows of an (h, w) map rolled by -shift on both axes.

    Tokens of one window attend to each other only if they come from the same region: the last `shift`
    rows/columns of the rolled map wrapped around from the other border. 0 = allowed, -100 = blocked.
    """

    def regions(n):
        idx = ops.arange(n)
        return ops.cast(idx >= n - window_size, "int32") + ops.cast(idx >= n - shift, "int32")

    labels = regions(h)[:, None] * 3 + regions(w)[None, :]
    labels = window_partition(ops.reshape(labels, (1, h, w, 1)), window_size)[..., 0]  # (nW, N)
    different = ops.not_equal(labels[:, :, None], labels[:, None, :])
    return ops.where(different, -100.0, 0.0)


def _relative_position_index(window_size: int) -> np.ndarray:
    """(N, N) index into the ((2ws-1)^2, heads) bias table for every pair of tokens in a window."""
    coords = np.stack(np.meshgrid(np.arange(window_size), np.arange(window_size), indexing="ij")).reshape(2, -1)
    rel = coords[:, :, None] - coords[:, None, :] + (window_size - 1)
    return (rel[0] * (2 * window_size - 1) + rel[1]).astype("int32")


@keras.saving.register_keras_serializable(package="stm_zoo")
class SwinWindowAttention(layers.Layer):
    """(Shifted) window multi-head self-attention with relative position bias on a (B, H, W, C) map.

    H and W must be multiples of `window_size`. With `shift_size` > 0 the map is rolled by -shift before
    partitioning, attention is masked between wrapped-around regions, and the result is rolled back.
    """

    def __init__(self, num_heads: int, window_size: int = 8, shift_size: int = 0, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= shift_size < window_size:
            raise ValueError(f"shift_size must be in [0, window_size), got {shift_size} for window {window_size}")
        self.num_heads = num_heads
        self.window_size = window_size
        self.shift_size = shift_size
        self._index = _relative_position_index(window_size).reshape(-1)

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim % self.num_heads:
            raise ValueError(f"channels ({dim}) must be divisible by num_heads ({self.num_heads})")
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.qkv = layers.Dense(3 * dim, kernel_initializer=init, name="qkv")
        self.qkv.build((None, dim))
        self.proj = layers.Dense(dim, kernel_initializer=init, name="proj")
        self.proj.build((None, dim))
        table_shape = ((2 * self.window_size - 1) ** 2, self.num_heads)
        self.relative_position_bias_table = self.add_weight(
            shape=table_shape, initializer=init, name="relative_position_bias_table"
        )

    def call(self, x):
        _, h, w, c = ops.shape(x)
        ws, shift, heads = self.window_size, self.shift_size, self.num_heads
        n = ws * ws
        if shift:
            x = ops.roll(x, shift=(-shift, -shift), axis=(1, 2))
        windows = window_partition(x, ws)  # (B*nW, N, C)
        qkv = ops.reshape(self.qkv(windows), (-1, n, 3, heads, c // heads))
        qkv = ops.transpose(qkv, (2, 0, 3, 1, 4))  # (3, B*nW, heads, N, hd)
        q, k, v = qkv[0] * (c // heads) ** -0.5, qkv[1], qkv[2]
        attn = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))  # (B*nW, heads, N, N)
        bias = ops.take(self.relative_position_bias_table, ops.convert_to_tensor(self._index), axis=0)
        attn = attn + ops.transpose(ops.reshape(bias, (n, n, heads)), (2, 0, 1))[None]
        if shift:
            mask = shifted_window_mask(h, w, ws, shift)  # (nW, N, N)
            n_windows = (h // ws) * (w // ws)
            attn = ops.reshape(attn, (-1, n_windows, heads, n, n)) + mask[None, :, None]
            attn = ops.reshape(attn, (-1, heads, n, n))
        attn = ops.softmax(attn, axis=-1)
        out = ops.reshape(ops.transpose(ops.matmul(attn, v), (0, 2, 1, 3)), (-1, n, c))
        x = window_reverse(self.proj(out), ws, h, w)
        if shift:
            x = ops.roll(x, shift=(shift, shift), axis=(1, 2))
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "window_size": self.window_size,
                "shift_size": self.shift_size}








def _swin_layer(x, num_heads, window_size, shift, mlp_ratio, name):
    """One Swin transformer layer: x + W-MSA(LN(x)), then x + MLP(LN(x)) (MLP: Linear-GELU-Linear)."""
    dim = x.shape[-1]
    init = keras.initializers.TruncatedNormal(stddev=0.02)
    y = layers.LayerNormalization(epsilon=1e-5, name=f"{name}_norm1")(x)
    y = SwinWindowAttention(num_heads, window_size, shift, name=f"{name}_attn")(y)
    x = layers.Add(name=f"{name}_add1")([x, y])
    y = layers.LayerNormalization(epsilon=1e-5, name=f"{name}_norm2")(x)
    y = layers.Dense(int(dim * mlp_ratio), activation="gelu", kernel_initializer=init, name=f"{name}_fc1")(y)
    y = layers.Dense(dim, kernel_initializer=init, name=f"{name}_fc2")(y)
    return layers.Add(name=f"{name}_add2")([x, y])


@register(
    "swinir",
    description="SwinIR light denoiser: conv, 4 residual Swin blocks x 6 layers (dim 60, 6 heads, shifted 8x8 "
    "windows, relative position bias), conv + global residual; pads to the window multiple",
    source="Liang et al. 2021, SwinIR: Image Restoration Using Swin Transformer (ICCVW), light configuration; "
    "github.com/JingyunLiang/SwinIR",
)
def swinir(
    embed_dim: int = 60,
    depths=(6, 6, 6, 6),
    num_heads=(6, 6, 6, 6),
    window_size: int = 8,
    mlp_ratio: float = 2.0,
    input_shape=(None, None, 1),
) -> keras.Model:
    if len(depths) != len(num_heads):
        raise ValueError(f"depths {depths} and num_heads {num_heads} must have the same length")
    inputs = keras.Input(shape=input_shape, name="noisy")
    padded = PadToMultiple(window_size, name="pad_to_window")(inputs)
    shallow = layers.Conv2D(embed_dim, 3, padding="same", name="conv_first")(padded)
    x = layers.LayerNormalization(epsilon=1e-5, name="patch_embed_norm")(shallow)
    for i, (depth, heads) in enumerate(zip(depths, num_heads)):
        rstb_in = x
        for j in range(depth):
            shift = 0 if j % 2 == 0 else window_size // 2
            x = _swin_layer(x, heads, window_size, shift, mlp_ratio, name=f"rstb{i}_layer{j}")
        x = layers.Conv2D(embed_dim, 3, padding="same", name=f"rstb{i}_conv")(x)
        x = layers.Add(name=f"rstb{i}_residual")([x, rstb_in])
    x = layers.LayerNormalization(epsilon=1e-5, name="norm")(x)
    x = layers.Conv2D(embed_dim, 3, padding="same", name="conv_after_body")(x)
    x = layers.Add(name="body_residual")([x, shallow])
    x = layers.Conv2D(input_shape[-1], 3, padding="same", name="conv_last")(x)
    x = layers.Add(name="image_residual")([padded, x])
    outputs = CropToMatch(window_size, name="clean")([x, inputs])
    return keras.Model(inputs, outputs, name="swinir")
