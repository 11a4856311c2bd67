import torch

from edgeq.models import ZOO
from edgeq.models.zoo import load_zoo


def test_the_zoo_lists_the_five_models():
    assert set(ZOO) == {"digits-cnn", "digits-lstm", "mobilenet-v2", "resnet-18", "minilm"}


def test_random_init_mobilenet_keeps_a_realistic_activation_scale():
    # fresh BatchNorm statistics would shrink the logits to ~1e-10, which int8 rounds to zero
    loaded = load_zoo("mobilenet-v2")
    with torch.no_grad():
        logits = loaded.model(*loaded.example_inputs)
    assert not loaded.model.training
    assert logits.std().item() > 1e-2


def test_vision_models_are_deterministic():
    first, second = load_zoo("resnet-18"), load_zoo("resnet-18")
    for (name, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), name
