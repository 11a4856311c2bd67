import torch

from edgeq.models import ZOO
from edgeq.models.zoo import load_zoo


def test_the_zoo_lists_the_six_models():
    assert set(ZOO) == {"digits-cnn", "digits-lstm", "mobilenet-v2", "resnet-18", "minilm", "tiny-llama"}


def test_the_tiny_llama_is_the_shipped_causal_lm_with_its_tokenizer_and_prompts():
    loaded = load_zoo("tiny-llama")
    assert loaded.task == "causal-lm" and type(loaded.model).__name__ == "LlamaForCausalLM"
    assert len(loaded.prompts) == 8 and loaded.tokenizer.name == "tokenizer.json"
    # the model knows its prompts: fp32 predicts most of their next tokens
    with torch.no_grad():
        ids = torch.tensor([loaded.prompts[0]])
        predicted = loaded.model(ids).logits[0, :-1].argmax(-1)
    assert (predicted == ids[0, 1:]).float().mean() > 0.8


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
