import torch

from edgeq.export.cache import cache_key


def _key(model, scheme="static"):
    return cache_key(fingerprint="zoo:x", model=model, example=(torch.ones(1, 4),), calibration=[(torch.ones(1, 4),)],
                     spec={"scheme": scheme, "format": "pte"})


def test_the_same_model_gives_the_same_key():
    torch.manual_seed(0)
    a = torch.nn.Linear(4, 2)
    torch.manual_seed(0)
    b = torch.nn.Linear(4, 2)
    assert _key(a) == _key(b)


def test_changed_weights_change_the_key():
    model = torch.nn.Linear(4, 2)
    before = _key(model)
    with torch.no_grad():
        model.weight.add_(1)
    assert _key(model) != before


def test_the_scheme_changes_the_key():
    model = torch.nn.Linear(4, 2)
    assert _key(model, "static") != _key(model, "dynamic")


def test_a_change_to_the_quantization_code_changes_the_key(monkeypatch):
    import edgeq.export.cache as cache

    model = torch.nn.Linear(4, 2)
    before = _key(model)
    monkeypatch.setattr(cache, "code_digest", lambda: "another version of edgeq/quantize")
    assert _key(model) != before
