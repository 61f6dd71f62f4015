"""HCANet: Hu et al. 2024, "Hybrid Convolutional and Attention Network for Hyperspectral Image Denoising" (GRSL).

A three-level U-Net (Restormer-like) of CAMixing blocks. Each block is x + CAFM(LN(x)) then x + MSFN(LN(x)):
- CAFM (convolution and attention fusion module): 1x1 conv to q, k, v + 3x3 depthwise conv, then the sum of
  a global branch (channel-wise "transposed" self-attention per head, L2-normalised q and k, learnable
  temperature, 1x1 projection) and a local branch (a fully connected layer mixing the 3*heads q/k/v groups into
  9 maps per channel group, then a 3x3 grouped convolution);
- MSFN (multi-scale feed-forward network): 1x1 conv to three hidden streams, 3x3 depthwise convs with dilation
  1, 2, 3, GELU(s1) * s2 * s3, 1x1 conv back.
Down/up-sampling: 3x3 conv + pixel-unshuffle / pixel-shuffle. The network predicts a residual added to the input.
Trained in the paper with L1 loss (plus a global gradient regulariser).

Adapted from the official code (github.com/summitgao/HCANet), which treats the 31 spectral bands as channels:
- 1 input/output channel (STM height map) instead of 31 bands.
- The official 3-D convolutions run on a depth-1 volume (`unsqueeze(2)`), so only the middle depth slice of
  each 3x3x3 kernel ever touches data: they are written here as the equivalent 2-D convolutions, which drops
  those inert weights (the parameter count is therefore lower than a PyTorch count of the official module).
- The local branch follows the paper/ACmix intent: the fully connected layer mixes, per pixel, the 3*heads
  q/k/v head groups; the official code applies it after a channels-first `reshape` that mixes pixels and
  channels, which is not reproducible channels-last and is not what the paper describes.
- The input is reflect-padded to a multiple of 4 (two 2x downsamplings) and the output cropped back.
- Depthwise and grouped convolutions are custom layers (same maths and weights as keras' DepthwiseConv2D /
  grouped Conv2D, checked against them in tests) computed as shifted multiply-adds: XLA:CPU runs those
  convolutions 8-40x slower, and the model built from the built-in layers took ~5x longer per 256x256 image.
"""

import keras
from keras import layers, ops

from stm_zoo.models.layers import CropToMatch, PadToMultiple
from stm_zoo.models.registry import register


@keras.saving.register_keras_serializable(package="stm_zoo")
class HCANetChannelAttention(layers.Layer):
    """Global branch of CAFM: multi-head channel ("transposed") self-attention on a (B, H, W, 3C) q|k|v map.

    Per head, q and k (c x HW) are L2-normalised over pixels; attention = softmax(q k^T * temperature) is c x c,
    so cost is linear in the number of pixels. Returns (B, H, W, C).
    """

    def __init__(self, num_heads: int, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads

    def build(self, input_shape):
        self.temperature = self.add_weight(shape=(self.num_heads,), initializer="ones", name="temperature")

    def call(self, qkv):
        b, h, w, c3 = ops.shape(qkv)
        c, heads = c3 // 3, self.num_heads
        # (B, HW, 3, heads, c/heads) -> (3, B, heads, c/heads, HW)
        qkv = ops.transpose(ops.reshape(qkv, (b, h * w, 3, heads, c // heads)), (2, 0, 3, 4, 1))
        q, k, v = qkv[0], qkv[1], qkv[2]
        q = q / ops.maximum(ops.norm(q, axis=-1, keepdims=True), 1e-12)
        k = k / ops.maximum(ops.norm(k, axis=-1, keepdims=True), 1e-12)
        attn = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * self.temperature[None, :, None, None]
        out = ops.matmul(ops.softmax(attn, axis=-1), v)  # (B, heads, c/heads, HW)
        return ops.reshape(ops.transpose(out, (0, 3, 1, 2)), (b, h, w, c))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], input_shape[3] // 3)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads}


def _shifted(x, kernel_size: int, dilation: int):
    """Zero-pads H and W ("same" conv) and yields ((ty, tx), view) for every tap of a k x k dilated kernel."""
    _, h, w = ops.shape(x)[:3]
    p = dilation * (kernel_size - 1) // 2
    xp = ops.pad(x, [[0, 0], [p, p], [p, p]] + [[0, 0]] * (len(x.shape) - 3))
    for ty in range(kernel_size):
        for tx in range(kernel_size):
            yield (ty, tx), xp[:, ty * dilation : ty * dilation + h, tx * dilation : tx * dilation + w]


@keras.saving.register_keras_serializable(package="stm_zoo")
class HCANetDepthwiseConv(layers.Layer):
    """3x3 depthwise convolution without bias ("same" zero padding, optional dilation), kernel (3, 3, C, 1).

    Same maths and weight layout as `keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)`, written
    as 9 shifted multiply-adds: XLA:CPU runs grouped convolutions about 8x slower than this.
    """

    def __init__(self, dilation_rate: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.dilation_rate = dilation_rate

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(3, 3, input_shape[-1], 1), initializer="glorot_uniform", name="kernel")

    def call(self, x):
        taps = ops.unstack(ops.reshape(self.kernel, (9, -1)))  # unstack: cheaper gradients than indexing
        out = 0
        for (ty, tx), view in _shifted(x, 3, self.dilation_rate):
            out = out + view * taps[3 * ty + tx]
        return out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "dilation_rate": self.dilation_rate}


@keras.saving.register_keras_serializable(package="stm_zoo")
class HCANetLocalBranch(layers.Layer):
    """Local branch of CAFM on a (B, H, W, 3C) q|k|v map -> (B, H, W, C).

    As in the paper: a fully connected layer (kernel (3*heads, 9) + bias) mixes, per pixel and per channel
    group d < C/heads, the 3*heads q/k/v head groups into 9 maps; a 3x3 grouped convolution (groups = C/heads,
    9 inputs and `heads` outputs per group, kernel (3, 3, 9, C) + bias, keras grouped-conv layout) follows.
    Both are linear, so the call folds the fc into the conv kernel (exact, zero padding included) and runs one
    3x3 conv per channel group on the q/k/v groups as shifted multiply-adds: XLA:CPU grouped convolutions are
    ~40x slower.
    """

    def __init__(self, num_heads: int, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads

    def build(self, input_shape):
        c = input_shape[-1] // 3
        self.fc_kernel = self.add_weight(shape=(3 * self.num_heads, 9), initializer="glorot_uniform", name="fc_kernel")
        self.fc_bias = self.add_weight(shape=(9,), initializer="zeros", name="fc_bias")
        self.conv_kernel = self.add_weight(shape=(3, 3, 9, c), initializer="glorot_uniform", name="conv_kernel")
        self.conv_bias = self.add_weight(shape=(c,), initializer="zeros", name="conv_bias")

    def call(self, qkv):
        b, h, w, c3 = ops.shape(qkv)
        heads = self.num_heads
        groups = c3 // (3 * heads)  # channel groups d; group d has `heads` outputs
        x = ops.reshape(qkv, (b, h, w, 3 * heads, groups))  # head group i, channel group d
        kernel = ops.reshape(self.conv_kernel, (3, 3, 9, groups, heads))
        folded = ops.einsum("tsjdo,ij->tsido", kernel, self.fc_kernel)  # (3, 3, 3*heads, groups, heads)
        folded = ops.unstack(ops.reshape(folded, (9 * 3 * heads, groups, heads)))
        bias_taps = ops.unstack(ops.reshape(ops.einsum("tsjdo,j->tsdo", kernel, self.fc_bias), (9, groups, heads)))
        views = ops.unstack(x, axis=3)  # the 3*heads q/k/v head groups, each (B, H, W, groups)
        inside = ops.ones((1, h, w, 1), qkv.dtype)  # 1 inside the image, 0 in the zero padding
        out = 0
        for i, view in enumerate(views):
            for (ty, tx), shifted in _shifted(view, 3, 1):
                out = out + shifted[..., None] * folded[(3 * ty + tx) * 3 * heads + i]
        for (ty, tx), ones in _shifted(inside, 3, 1):
            out = out + ones[..., None] * bias_taps[3 * ty + tx]
        return ops.reshape(out, (b, h, w, groups * heads)) + self.conv_bias

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], input_shape[3] // 3)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads}


@keras.saving.register_keras_serializable(package="stm_zoo")
class HCANetPixelShuffle(layers.Layer):
    """Pixel (un)shuffle by 2, channel order as torch: `down` (B,H,W,C)->(B,H/2,W/2,4C); else the inverse."""

    def __init__(self, down: bool, **kwargs):
        super().__init__(**kwargs)
        self.down = down

    def call(self, x):
        b, h, w, c = ops.shape(x)
        if self.down:
            x = ops.reshape(x, (b, h // 2, 2, w // 2, 2, c))
            x = ops.transpose(x, (0, 1, 3, 5, 2, 4))  # (B, H/2, W/2, C, 2, 2)
            return ops.reshape(x, (b, h // 2, w // 2, 4 * c))
        x = ops.reshape(x, (b, h, w, c // 4, 2, 2))
        x = ops.transpose(x, (0, 1, 4, 2, 5, 3))  # (B, H, 2, W, 2, C/4)
        return ops.reshape(x, (b, 2 * h, 2 * w, c // 4))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        scale = (lambda n: None if n is None else n // 2) if self.down else (lambda n: None if n is None else 2 * n)
        return (b, scale(h), scale(w), c * 4 if self.down else c // 4)

    def get_config(self):
        return {**super().get_config(), "down": self.down}








def _cafm(x, heads, name):
    dim = x.shape[-1]
    qkv = layers.Conv2D(3 * dim, 1, use_bias=False, name=f"{name}_qkv")(x)
    qkv = HCANetDepthwiseConv(name=f"{name}_qkv_dwconv")(qkv)
    global_branch = HCANetChannelAttention(heads, name=f"{name}_attention")(qkv)
    global_branch = layers.Conv2D(dim, 1, use_bias=False, name=f"{name}_project_out")(global_branch)
    local_branch = HCANetLocalBranch(heads, name=f"{name}_local")(qkv)
    return layers.Add(name=f"{name}_fuse")([global_branch, local_branch])


def _msfn(x, expansion, name):
    dim = x.shape[-1]
    hidden = int(dim * expansion)
    streams = []
    for i, dilation in enumerate((1, 2, 3), start=1):
        s = layers.Conv2D(hidden, 1, use_bias=False, name=f"{name}_project_in{i}")(x)
        s = HCANetDepthwiseConv(dilation, name=f"{name}_dwconv{i}")(s)
        streams.append(s)
    streams[0] = layers.Activation("gelu", name=f"{name}_gelu")(streams[0])
    y = layers.Multiply(name=f"{name}_gate")(streams)
    return layers.Conv2D(dim, 1, use_bias=False, name=f"{name}_project_out")(y)


def _camixing_blocks(x, count, heads, expansion, name):
    for i in range(count):
        n = f"{name}_{i}"
        y = layers.LayerNormalization(epsilon=1e-5, name=f"{n}_norm1")(x)
        x = layers.Add(name=f"{n}_add1")([x, _cafm(y, heads, f"{n}_cafm")])
        y = layers.LayerNormalization(epsilon=1e-5, name=f"{n}_norm2")(x)
        x = layers.Add(name=f"{n}_add2")([x, _msfn(y, expansion, f"{n}_msfn")])
    return x


@register(
    "hcanet",
    description="HCANet: 3-level U-Net of CAMixing blocks (conv+channel-attention fusion CAFM, multi-scale "
    "dilated feed-forward MSFN), pixel-(un)shuffle resampling, residual output; 1-channel adaptation",
    source="Hu et al. 2024, Hybrid Convolutional and Attention Network for Hyperspectral Image Denoising "
    "(IEEE GRSL); github.com/summitgao/HCANet",
)
def hcanet(
    dim: int = 48,
    num_blocks=(2, 3, 3),
    heads=(1, 2, 4),
    num_refinement_blocks: int = 1,
    ffn_expansion_factor: float = 2.66,
    input_shape=(None, None, 1),
) -> keras.Model:
    if len(num_blocks) != 3 or len(heads) != 3:
        raise ValueError(f"num_blocks and heads need 3 levels, got {num_blocks} and {heads}")
    inputs = keras.Input(shape=input_shape, name="noisy")
    padded = PadToMultiple(4, name="pad_to_4")(inputs)
    x = layers.Conv2D(dim, 3, padding="same", use_bias=False, name="patch_embed")(padded)
    enc1 = _camixing_blocks(x, num_blocks[0], heads[0], ffn_expansion_factor, "encoder1")

    x = layers.Conv2D(dim // 2, 3, padding="same", use_bias=False, name="down1_conv")(enc1)
    x = HCANetPixelShuffle(down=True, name="down1_unshuffle")(x)
    enc2 = _camixing_blocks(x, num_blocks[1], heads[1], ffn_expansion_factor, "encoder2")

    x = layers.Conv2D(dim, 3, padding="same", use_bias=False, name="down2_conv")(enc2)
    x = HCANetPixelShuffle(down=True, name="down2_unshuffle")(x)
    x = _camixing_blocks(x, num_blocks[2], heads[2], ffn_expansion_factor, "encoder3")

    x = layers.Conv2D(8 * dim, 3, padding="same", use_bias=False, name="up3_conv")(x)
    x = HCANetPixelShuffle(down=False, name="up3_shuffle")(x)
    x = layers.Concatenate(name="skip2")([x, enc2])
    x = layers.Conv2D(2 * dim, 1, use_bias=False, name="reduce_chan2")(x)
    x = _camixing_blocks(x, num_blocks[1], heads[1], ffn_expansion_factor, "decoder2")

    x = layers.Conv2D(4 * dim, 3, padding="same", use_bias=False, name="up2_conv")(x)
    x = HCANetPixelShuffle(down=False, name="up2_shuffle")(x)
    x = layers.Concatenate(name="skip1")([x, enc1])
    x = _camixing_blocks(x, num_blocks[0], heads[0], ffn_expansion_factor, "decoder1")
    x = _camixing_blocks(x, num_refinement_blocks, heads[0], ffn_expansion_factor, "refinement")

    x = layers.Conv2D(input_shape[-1], 3, padding="same", use_bias=False, name="output")(x)
    x = layers.Add(name="residual")([x, padded])
    outputs = CropToMatch(4, name="clean")([x, inputs])
    return keras.Model(inputs, outputs, name="hcanet")
