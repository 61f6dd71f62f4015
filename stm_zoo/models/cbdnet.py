"""CBDNet (Guo et al. 2019): a noise-estimation sub-network feeding a non-blind U-Net denoiser.

Layout, following the paper and IDKiro/CBDNet-pytorch (grayscale: 1 channel in, 1-channel noise map):
  CNN_E: 5 × Conv3×3(32)+ReLU, the last with 1 channel = estimated noise-level map σ̂ (≥ 0);
  CNN_D: U-Net on [image, σ̂]: 2 × Conv(64) | AvgPool2 → 3 × Conv(128) | AvgPool2 → 6 × Conv(256) |
  ConvTranspose2×2(128) + skip (addition) → 3 × Conv(128) | ConvTranspose2×2(64) + skip → 2 × Conv(64) |
  Conv1×1(1) = residual; output = input + residual, clipped to [0, 1] by `ReLU(max_value=1)`.
The two poolings need H, W divisible by 4: [image, σ̂] is reflect-padded and the residual cropped back.
Parameters: 4,361,794 (the RGB original: 4,365,382, "4.4 M").

Training losses. CBDNet trains on L2 reconstruction + λ_asymm·L_asymm + λ_TV·L_TV, both extra terms on σ̂:
  L_asymm = mean(|α − 1[σ̂ < σ]| · (σ̂ − σ)²)   (α = 0.3 < 0.5: under-estimating the noise costs more)
  L_TV    = mean((∂_h σ̂)²) + mean((∂_w σ̂)²)
with α = 0.3, λ_asymm = 0.5, λ_TV = 0.05. The zoo's model has a single output (the denoised image) and
its losses see only (clean, prediction), so the σ̂ terms live inside the model: the last layer,
`NoiseMapPenalty`, is the identity on the denoised image and, when training, calls `add_loss` with both
terms (Keras adds them to the recipe's loss, "mse" = CBDNet's L2). TV needs nothing but σ̂. The asymmetric
term needs the true noise level σ, which CBDNet gets from its noise synthesis and which our pairs do not
carry; it is inferred as the local RMS (7×7 window) of the noise the model currently removes,
noisy − denoised, held constant (stop_gradient). As the denoised output approaches the clean image this
becomes the local RMS of the real noise, i.e. the σ map CBDNet regresses on; for real photos without σ
the paper sets λ_asymm = 0, which `asym_weight=0` reproduces. (IDKiro's loss swaps the indicator,
weighting over-estimation by 0.7; we follow the paper.)
"""

import keras
from keras import layers, ops

from stm_zoo.models.layers import CropToMatch, PadToMultiple
from stm_zoo.models.registry import register

_DEPTH_MULTIPLE = 4  # two 2× poolings
_SIGMA_WINDOW = 7  # window of the local noise RMS that stands in for the true σ map


def asymmetric_loss(sigma_hat, sigma, alpha: float = 0.3):
    """CBDNet's asymmetric loss: squared error weighted 1 − α where σ̂ < σ (under-estimate), α elsewhere."""
    under = ops.cast(sigma_hat < sigma, sigma_hat.dtype)
    return ops.mean(ops.abs(alpha - under) * ops.square(sigma_hat - sigma))


def total_variation(sigma_hat):
    """Mean squared difference between vertical and between horizontal neighbours of the noise map."""
    dh = sigma_hat[:, 1:, :, :] - sigma_hat[:, :-1, :, :]
    dw = sigma_hat[:, :, 1:, :] - sigma_hat[:, :, :-1, :]
    return ops.mean(ops.square(dh)) + ops.mean(ops.square(dw))


def local_noise_level(residual, window: int = _SIGMA_WINDOW):
    """Local RMS of a noise residual over a window×window neighbourhood (edges average the pixels inside)."""
    mean_square = ops.average_pool(ops.square(residual), window, strides=1, padding="same")
    return ops.sqrt(mean_square)


@keras.saving.register_keras_serializable(package="stm_zoo")
class NoiseMapPenalty(layers.Layer):
    """`NoiseMapPenalty(...)([noisy, sigma_hat, denoised])` returns `denoised`; when training it adds
    asym_weight·L_asymm(σ̂, local RMS of noisy − denoised) + tv_weight·L_TV(σ̂) to the model's losses."""

    def __init__(self, asym_weight: float = 0.5, tv_weight: float = 0.05, alpha: float = 0.3, **kwargs):
        super().__init__(**kwargs)
        self.asym_weight, self.tv_weight, self.alpha = float(asym_weight), float(tv_weight), float(alpha)

    def call(self, inputs, training=None):
        noisy, sigma_hat, denoised = inputs
        if training:
            sigma = local_noise_level(ops.stop_gradient(noisy - denoised))
            self.add_loss(
                self.asym_weight * asymmetric_loss(sigma_hat, sigma, self.alpha)
                + self.tv_weight * total_variation(sigma_hat)
            )
        return denoised

    def compute_output_shape(self, input_shapes):
        return input_shapes[2]

    def get_config(self):
        return {**super().get_config(), "asym_weight": self.asym_weight, "tv_weight": self.tv_weight, "alpha": self.alpha}


def _convs(x, filters, count, name):
    for i in range(1, count + 1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_conv{i}")(x)
    return x


@register(
    "cbdnet",
    description="CBDNet: 5-layer noise-level estimator + non-blind U-Net on [image, noise map]; asymmetric "
    "and TV losses on the noise map added while training",
    source="Guo et al., 'Toward Convolutional Blind Denoising of Real Photographs', CVPR 2019; "
    "https://github.com/GuoShi28/CBDNet (PyTorch port: https://github.com/IDKiro/CBDNet-pytorch)",
)
def cbdnet(asym_weight: float = 0.5, tv_weight: float = 0.05, alpha: float = 0.3, input_shape=(None, None, 1)) -> keras.Model:
    noisy = keras.Input(shape=input_shape, name="noisy")
    s = _convs(noisy, 32, 4, "estimate")
    sigma_hat = layers.Conv2D(1, 3, padding="same", activation="relu", name="noise_map")(s)

    x = layers.Concatenate(name="image_and_noise_map")([noisy, sigma_hat])
    x = PadToMultiple(_DEPTH_MULTIPLE, name="pad")(x)
    full = _convs(x, 64, 2, "inc")
    half = _convs(layers.AveragePooling2D(2, name="down1")(full), 128, 3, "enc1")
    quarter = _convs(layers.AveragePooling2D(2, name="down2")(half), 256, 6, "enc2")
    x = layers.Conv2DTranspose(128, 2, strides=2, name="up1")(quarter)
    x = _convs(layers.Add(name="skip1")([x, half]), 128, 3, "dec1")
    x = layers.Conv2DTranspose(64, 2, strides=2, name="up2")(x)
    x = _convs(layers.Add(name="skip2")([x, full]), 64, 2, "dec2")
    residual = layers.Conv2D(1, 1, name="residual")(x)
    residual = CropToMatch(_DEPTH_MULTIPLE, name="crop")([residual, noisy])

    denoised = layers.ReLU(max_value=1.0, name="clip")(layers.Add(name="global_residual")([noisy, residual]))
    clean = NoiseMapPenalty(asym_weight, tv_weight, alpha, name="clean")([noisy, sigma_hat, denoised])
    return keras.Model(noisy, clean, name="cbdnet")
