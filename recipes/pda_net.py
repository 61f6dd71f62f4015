"""PDA-Net (Xie et al. 2025) on STM stripes: adversarial domain adaptation from simulated pairs to real scans.

Trainer "adversarial" (`stm_zoo.training.adversarial.fit_adversarial`): each step, L1 on a simulated (noisy, clean)
pair plus 0.01 × a least-squares GAN term that pushes the generator's denoised real scans towards the
simulated clean images, judged by a PatchGAN (`stm_zoo.models.pda_net.pda_net_discriminator`).
"synthetic" (the physics-based surface simulator plus the thesis noise) stands in for the paper's physics
simulations. Adam at 2e-4 is the usual GAN setting (the trainer's default optimizers also take β1 = 0.5); the
paper's values are not public.

`real_data` holds the unpaired real scans. "embedded" (the seven real topographs shipped with stm-zoo) lets the
recipe run offline; point it at your own noisy scans for the domain adaptation the method is for:
    stm-zoo fit recipes/pda_net.py --set real_data=~/scans
"""


def get_config():
    return {
        "model": "pda_net",
        "trainer": "adversarial",
        "data": "synthetic",
        "real_data": "embedded",
        "patch_size": 128,
        "batch_size": 8,
        "epochs": 50,
        "steps_per_epoch": 100,
        "validation_steps": 4,
        "noise": "thesis",
        "optimizer": "adam",
        "learning_rate": 2e-4,
        "lr_schedule": "constant",
        "loss": "l1",
        "seed": 0,
        "out": "runs/pda_net",
    }
