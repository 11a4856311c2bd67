"""Export a 94M-parameter Llama (random weights) as fp32, 8da8w and 8da4w .pte files under /tmp/llm/big (issue 25 probe; time each with runners/edgeq_llm_runner.py). Run from the repository: python benchmarks/llm_export_probe.py fp32 8da8w 8da4w"""
import sys, time, torch, warnings
from pathlib import Path
warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).parents[1]))
from pathlib import Path
from transformers import LlamaConfig, LlamaForCausalLM
from edgeq.llm.export import export_llm
torch.manual_seed(0)
config = LlamaConfig(vocab_size=2048, hidden_size=1024, intermediate_size=2816, num_hidden_layers=8, num_attention_heads=16,
                     num_key_value_heads=4, max_position_embeddings=256, tie_word_embeddings=False)
model = LlamaForCausalLM(config).eval()
print("params", sum(p.numel() for p in model.parameters()) / 1e6, "M", flush=True)
for scheme in sys.argv[1:]:
    t = time.time()
    p = export_llm(model, scheme, Path(f"/tmp/llm/big/{scheme}.pte"), max_context=256)
    print(scheme, "export", round(time.time() - t, 1), "s", round(p.stat().st_size / 2**20, 1), "MiB", flush=True)
