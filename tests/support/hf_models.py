"""Hugging Face ``transformers`` models as users hand them over, as ``file.py:factory`` sources.

Small configs with random weights (nothing is downloaded): the architectures and their forward code are
the library's own, so what fails here fails on the real checkpoints. Each model is returned as it comes
from ``from_pretrained``: in train mode (dropout live), returning a ``ModelOutput``; inputs that the
forward takes by keyword are given as a dict.
"""

from __future__ import annotations

import torch

SEED = 0


def _trained_scale(model: torch.nn.Module, example: torch.Tensor) -> torch.nn.Module:
    """Weights at the scale trained vision nets have: convolutions He-initialised (fan-in, right for depthwise
    too) and BatchNorm statistics measured on data, so every BatchNorm normalises as in a trained net.

    transformers' default init draws convolutions and BatchNorm scales from N(0, 0.02) and leaves the running
    statistics at 0 and 1: a deep conv stack's activations then shrink to ~1e-3 (MobileViT's logits to 1e-35),
    below int8's smallest step, which no trained checkpoint does.
    """
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        elif isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(module.weight)
            torch.nn.init.zeros_(module.bias)
            module.reset_running_stats()
            module.momentum = None  # a cumulative average over the batches below
    generator = torch.Generator().manual_seed(SEED + 1)
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(8, *example.shape[1:], generator=generator))
    return model


def _inputs_generator() -> torch.Generator:
    return torch.Generator().manual_seed(SEED)


def _tokens(vocab: int, length: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(3, vocab, (1, length), generator=_inputs_generator())
    return ids, torch.ones_like(ids)


def bert_encoder():
    """A BERT text encoder (``BertModel``): token ids and attention mask in, hidden states and pooler out."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(SEED)
    config = BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=64)
    ids, mask = _tokens(config.vocab_size)
    return BertModel(config).train(), {"input_ids": ids, "attention_mask": mask}


def gpt2_lm():
    """A GPT-2 causal language model (``GPT2LMHeadModel``): tied embeddings, ``Conv1D`` projections, a KV cache."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(SEED)
    config = GPT2Config(vocab_size=1000, n_positions=64, n_embd=64, n_layer=2, n_head=4, bos_token_id=0, eos_token_id=0)
    ids, mask = _tokens(config.vocab_size)
    return GPT2LMHeadModel(config).train(), {"input_ids": ids, "attention_mask": mask}


def llama_lm():
    """A Llama-style causal language model: RMSNorm, rotary embeddings, grouped-query attention, SiLU MLP."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(SEED)
    config = LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    ids, mask = _tokens(config.vocab_size)
    return LlamaForCausalLM(config).train(), {"input_ids": ids, "attention_mask": mask}


def vit_classifier():
    """A vision transformer (``ViTForImageClassification``): patch embedding and attention."""
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(SEED)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=128, num_labels=10)
    pixels = torch.randn(1, 3, 32, 32, generator=_inputs_generator())
    return ViTForImageClassification(config).train(), (pixels,)


def mobilevit_classifier():
    """MobileViT: the hybrid phone model, MobileNetV2 blocks with transformer blocks between them."""
    from transformers import MobileViTConfig, MobileViTForImageClassification

    torch.manual_seed(SEED)
    config = MobileViTConfig(image_size=64, hidden_sizes=[32, 48, 64], neck_hidden_sizes=[8, 16, 24, 32, 40, 48, 96],
                             num_attention_heads=2, num_labels=10)
    pixels = torch.randn(1, 3, 64, 64, generator=_inputs_generator())
    return _trained_scale(MobileViTForImageClassification(config), pixels).train(), (pixels,)


def convnext_classifier():
    """A ConvNeXt image classifier: depthwise 7x7 convolutions, LayerNorm, GELU, layer scale."""
    from transformers import ConvNextConfig, ConvNextForImageClassification

    torch.manual_seed(SEED)
    config = ConvNextConfig(num_channels=3, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 2, 1], num_labels=10,
                            image_size=64)
    pixels = torch.randn(1, 3, 64, 64, generator=_inputs_generator())
    return ConvNextForImageClassification(config).train(), (pixels,)


def resnet_classifier():
    """A Hugging Face ResNet (``ResNetForImageClassification``): conv-bn-relu, the classic static-int8 net."""
    from transformers import ResNetConfig, ResNetForImageClassification

    torch.manual_seed(SEED)
    config = ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], num_labels=10)
    pixels = torch.randn(1, 3, 64, 64, generator=_inputs_generator())
    return _trained_scale(ResNetForImageClassification(config), pixels).train(), (pixels,)


def wav2vec2_encoder():
    """A wav2vec 2.0 speech encoder (``Wav2Vec2Model``): a 1-D conv feature extractor, then attention."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(SEED)
    config = Wav2Vec2Config(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                            conv_dim=(32, 32, 32), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3),
                            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    audio = torch.randn(1, 4000, generator=_inputs_generator())
    return Wav2Vec2Model(config).train(), (audio,)


def whisper_encoder():
    """Whisper's audio encoder (``WhisperForAudioClassification``): log-mel features in, class logits out."""
    from transformers import WhisperConfig, WhisperForAudioClassification

    torch.manual_seed(SEED)
    config = WhisperConfig(num_mel_bins=16, d_model=64, encoder_layers=2, encoder_attention_heads=4,
                           encoder_ffn_dim=128, max_source_positions=50, num_labels=5, vocab_size=100,
                           decoder_layers=1, decoder_attention_heads=4, decoder_ffn_dim=128, pad_token_id=0,
                           bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)
    features = torch.randn(1, 16, 100, generator=_inputs_generator())
    return WhisperForAudioClassification(config).train(), (features,)


def mobilevitv2_classifier():
    """MobileViTV2: MobileNetV2 blocks with separable self-attention between them (one attention block a stage)."""
    from transformers import MobileViTV2Config, MobileViTV2ForImageClassification

    torch.manual_seed(SEED)
    config = MobileViTV2Config(image_size=64, n_attn_blocks=(1, 1, 1), width_multiplier=0.5, num_labels=10)
    pixels = torch.randn(1, 3, 64, 64, generator=_inputs_generator())
    return _trained_scale(MobileViTV2ForImageClassification(config), pixels).train(), (pixels,)


def mobilenetv2_classifier():
    """MobileNetV2 as transformers ports TensorFlow's checkpoints: explicit "same" padding computed in forward
    in front of every strided depthwise convolution (``tf_padding``), ReLU6, and a residual add."""
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification

    torch.manual_seed(SEED)
    config = MobileNetV2Config(image_size=96, depth_multiplier=0.35, tf_padding=True, num_labels=10)
    pixels = torch.randn(1, 3, 96, 96, generator=_inputs_generator())
    return _trained_scale(MobileNetV2ForImageClassification(config), pixels).train(), (pixels,)


def _digits_images(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's digits as RGB images of ``size`` pixels in [-1, 1], shuffled once, and their labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = torch.tensor(data.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    images = torch.nn.functional.interpolate(images, size=size, mode="bilinear", align_corners=False)
    order = torch.randperm(len(images), generator=_inputs_generator())
    return (images.repeat(1, 3, 1, 1) * 2 - 1)[order], torch.tensor(data.target)[order]


def mobilenetv2_digits():
    """The TensorFlow-padded MobileNetV2 above, trained (about a minute, once: the weights are kept in the temp
    directory) to ~0.9 top-1 on digits at 32x32, handed over in train mode with a held-out evaluation set: a
    trained depthwise net whose int8 accuracy means something, as a real checkpoint's does."""
    import tempfile
    from pathlib import Path

    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification

    torch.manual_seed(SEED)
    config = MobileNetV2Config(image_size=32, depth_multiplier=0.35, tf_padding=True, num_labels=10,
                               classifier_dropout_prob=0.1)
    model = MobileNetV2ForImageClassification(config)
    images, labels = _digits_images(32)
    train_x, train_y, test_x, test_y = images[:1400], labels[:1400], images[1400:], labels[1400:]
    weights = Path(tempfile.gettempdir()) / "edgeq-test-models" / "mobilenetv2-digits-v1.pt"
    if weights.is_file():
        model.load_state_dict(torch.load(weights, weights_only=True))
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        model.train()
        for _ in range(8):
            for start in range(0, len(train_x), 50):
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(train_x[start:start + 50]).logits, train_y[start:start + 50])
                loss.backward()
                optimizer.step()
        weights.parent.mkdir(parents=True, exist_ok=True)
        partial = weights.with_suffix(f".{id(model)}.tmp")
        torch.save(model.state_dict(), partial)
        partial.replace(weights)
    evaluation = [(test_x[i:i + 1], int(test_y[i])) for i in range(len(test_x))]
    training = [(train_x[i:i + 1], int(train_y[i])) for i in range(len(train_x))]
    return model.train(), (test_x[:1].clone(),), evaluation, training


ARCHITECTURES = ("bert_encoder", "gpt2_lm", "llama_lm", "vit_classifier", "mobilevit_classifier", "mobilevitv2_classifier", "mobilenetv2_classifier",
                 "convnext_classifier", "resnet_classifier", "wav2vec2_encoder", "whisper_encoder")
