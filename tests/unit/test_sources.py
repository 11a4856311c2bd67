import pytest
import torch

from edgeq.errors import ModelError
from edgeq.models import EvalSet, ModelSource, load_model


def test_parse_recognises_the_three_source_forms():
    assert ModelSource.parse("zoo:digits-cnn") == ModelSource("zoo", "digits-cnn")
    assert ModelSource.parse("models/net.py:make") == ModelSource("file", "models/net.py", "make")
    assert ModelSource.parse("net.pt2") == ModelSource("pt2", "net.pt2")


def test_a_py_file_without_factory_says_how_to_name_one():
    with pytest.raises(ModelError) as info:
        ModelSource.parse("net.py")
    assert "net.py:make_model" in info.value.hint


def test_unknown_zoo_model_lists_the_zoo():
    with pytest.raises(ModelError) as info:
        load_model("zoo:vgg")
    assert "digits-cnn" in info.value.hint


def test_missing_file_is_named():
    with pytest.raises(ModelError, match="nope.py does not exist"):
        load_model("nope.py:make")


def test_missing_factory_lists_what_the_file_has(user_models):
    with pytest.raises(ModelError) as info:
        load_model(f"{user_models}:make_it")
    assert "two_in_two_out" in info.value.hint


def test_missing_factory_names_functions_as_functions_and_classes_as_classes(tmp_path):
    path = tmp_path / "net.py"
    path.write_text("import torch\n\nclass Block(torch.nn.Module):\n    pass\n\nclass SmallNet(torch.nn.Module):\n"
                    "    pass\n\ndef make_model():\n    return SmallNet(), (torch.zeros(1),)\n")
    with pytest.raises(ModelError) as info:
        load_model(f"{path}:make")
    assert info.value.hint == "functions there: make_model; classes: Block, SmallNet (a factory returns (model, example_inputs))"


def test_factory_returning_a_non_module_is_explained(user_models):
    with pytest.raises(ModelError, match="expected a torch.nn.Module"):
        load_model(f"{user_models}:not_a_model")


def test_factory_exception_points_at_the_users_line(user_models):
    with pytest.raises(ModelError, match=r"RuntimeError: weights file missing \(at user_models.py:\d+\)"):
        load_model(f"{user_models}:broken_factory")


def test_file_that_fails_to_import_is_explained(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("import not_a_real_module\n")
    with pytest.raises(ModelError, match="importing .*bad.py failed: ModuleNotFoundError"):
        load_model(f"{path}:make")


def test_a_single_tensor_becomes_a_one_input_tuple(user_models):
    loaded = load_model(f"{user_models}:with_meta")
    assert isinstance(loaded.example_inputs, tuple) and len(loaded.example_inputs) == 1


def test_a_list_of_labelled_samples_becomes_an_eval_set(user_models):
    loaded = load_model(f"{user_models}:embedding_lstm")
    assert isinstance(loaded.eval_set, EvalSet) and len(loaded.eval_set.inputs) == 20


def test_non_tensor_inputs_are_rejected(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("import torch\ndef make():\n    return torch.nn.Linear(2, 2), ('text',)\n")
    with pytest.raises(ModelError, match="only tensors"):
        load_model(f"{path}:make")


def test_a_saved_export_program_loads_with_its_inputs(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(3, 2)).eval()
    x = (torch.randn(1, 3),)
    torch.export.save(torch.export.export(model, x), tmp_path / "m.pt2")
    loaded = load_model(str(tmp_path / "m.pt2"))
    torch.testing.assert_close(loaded.model(*loaded.example_inputs), model(*x))


def test_a_corrupt_pt2_is_a_model_error(tmp_path):
    (tmp_path / "m.pt2").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a torch.export program"):
        load_model(str(tmp_path / "m.pt2"))
