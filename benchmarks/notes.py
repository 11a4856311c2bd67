"""Hand-written prose for docs/benchmarks.md: published figures and the analysis of the measured numbers.

No measured number belongs here: the report takes every number from the run.
The analysis below was checked against the run in benchmarks/results/latest.json
when it was written (and by the experiments it names); reread it when the
toolchain changes. The report flags a model where ONNX Runtime int8 beats
ExecuTorch int8 and no analysis exists for it.
"""

from __future__ import annotations

PUBLISHED_SOURCE = ("the PyTorch blog post *Introduction to Quantization on PyTorch* (March 2020), "
                    "measured with eager-mode torch.quantization and fbgemm/qnnpack")

PUBLISHED = [
    {"model": "BERT (GLUE MRPC)", "method": "dynamic int8", "speedup": "1.8×", "accuracy": "F1 0.902 → 0.895",
     "where": "Intel Xeon-D2191"},
    {"model": "ResNet-50 (ImageNet)", "method": "static PTQ", "speedup": "2×", "accuracy": "top-1 76.1 → 75.9",
     "where": "Intel Xeon-D2191"},
    {"model": "MobileNetV2 (ImageNet)", "method": "QAT", "speedup": "5.7×", "accuracy": "top-1 71.9 → 71.6",
     "where": "Samsung S9"},
    {"model": "all of the above", "method": "int8 weights", "speedup": "—", "accuracy": "models ~4× smaller",
     "where": "—"},
]

PUBLISHED_COMMENT = """
The published speed-ups are int8 against the same framework's fp32 on the same device, which matches the
"vs fp32 .pte" column. ExecuTorch's fp32 baseline is itself much faster than eager PyTorch (XNNPACK's fp32
kernels, no Python between ops), so "vs eager fp32" is the larger number and the one a user moving from eager
PyTorch sees. Our MobileNetV2 is post-training static, not QAT, and random-init, so its accuracy column is
agreement with fp32, not ImageNet top-1. The ~4× size reduction holds wherever every weight becomes int8: the
convolutional nets, and MiniLM, whose 30522×384 word-embedding table (about half of its weights) the int8 .pte
stores as int8 rows looked up by ExecuTorch's quantized kernel, as the torch.ao and ONNX Runtime int8 files store
theirs. The speed-ups depend on the CPU far more than the sizes do: this run's CPU has AVX2 but no AVX-512 and no
VNNI (see *Machine*), where int8 GEMMs gain much less over fp32 than on the VNNI machine of earlier runs (MiniLM's
int8 .pte was about 3× its fp32 there, and is about 1.4× here; *How far int8 matrix products carry on this CPU*
below measures the ceiling).
"""

INT8_GRAPHS: dict[str, str] = {
    "digits-lstm": """
ONNX Runtime exports each layer as one ONNX `LSTM` op, and `quantize_dynamic` turns it into its
`DynamicQuantizeLSTM` contrib kernel: a layer's whole recurrence runs inside one C++ kernel. edgeq rewrites the
LSTM as Linear gates that PT2E can quantize (`WavefrontLSTM`, both layers stepped side by side), which
`torch.export` unrolls into XNNPACK operators per step. *Lowering the int8 LSTM* below measures that lowering
against the ones tried before it and against ONNX Runtime, and says where the rest of the time goes. The tables
above time each variant for 50 runs per process, a few milliseconds of work for a model this small, and their
two int8 rows move by more than the gap between them from run to run; the section below runs every lowering and
ONNX Runtime ten times longer in five processes, which is the comparison to trust.
""",
    "mobilenet-v2": """
Both int8 graphs are complete: ExecuTorch runs the whole network in one XNNPACK subgraph, and ONNX Runtime with
uint8 activations (U8S8) folds every QDQ-wrapped convolution into `QLinearConv` and every residual add into
`QLinearAdd`. What is left is kernel against kernel (XNNPACK's int8 convolution and depthwise kernels against ONNX
Runtime's MLAS ones). On an AVX-512 VNNI CPU (the 2026-11-25 run) they landed within a few percent of each other;
on this run's AVX2-only CPU ORT's U8S8 kernels are clearly ahead, and edgeq's static int8 .pte is not even faster
than its fp32 .pte, which is why `--scheme auto` keeps fp32 there (the table below). The kernels were not
profiled again on this CPU. U8S8 is the fast path of
ORT's x86 CPU kernels, because VNNI's `vpdpbusd` multiplies unsigned by signed bytes; XNNPACK's kernels for
edgeq's signed activations spend an extra `vpxorq` per activation load to fit it (see resnet-18).
With ORT's default int8 (S8S8) activations
its CPU graph optimizer leaves part of the convolutions as fp32 `Conv` between `DequantizeLinear` and
`QuantizeLinear` and the residual adds in fp32 (see the op counts above), which is why that variant is much
slower. So ORT's documented default is not its fastest choice on x86.
""",
    "resnet-18": """
Both int8 graphs are complete: ExecuTorch runs the whole network in one XNNPACK subgraph, and ONNX Runtime with
uint8 activations (U8S8) turns all 20 convolutions into `QLinearConv` and the 8 residual adds into `QLinearAdd`.
What differs is the int8 convolution kernel. On the AVX-512 VNNI CPU of the 2026-11-25 run, a CPU profile of
each runner (perf, taken by hand) found both hot
loops on AVX-512 VNNI `vpdpbusd`, which multiplies unsigned bytes by signed bytes. ORT's MLAS loop for U8S8 is
nothing but dot products and broadcasts (20 `vpdpbusds` per 5 `vpbroadcastd`); XNNPACK's loop for edgeq's signed
int8 activations (the XNNPACK quantizer's symmetric qint8) first flips every broadcast activation to unsigned with
a `vpxorq`, one extra instruction for every two `vpdpbusd`. That is the few percent ORT gains; it is small, so
read it with the per-process medians (ExecuTorch's move more from process to process than ORT's). With ORT's
default int8 (S8S8) activations, its CPU graph optimizer fuses only the stem and the second convolution of each
residual block into `QLinearConv`; the convolutions that read a block's input (its first convolution and the
downsampling shortcut) stay fp32 `Conv` between `DequantizeLinear` and `QuantizeLinear`, and the adds stay fp32,
which is why that variant is far slower than the U8S8 one. This run's CPU has neither AVX-512 nor VNNI, and
the gap is wider here (not profiled again); torch.ao's `x86`/`fbgemm` `.ptl` beats the .pte as well, and
`--scheme auto`, which measures both formats on `host`, ships that `.ptl`.
""",
    "minilm": """
Both runtimes run the encoder's Linear layers as dynamically quantized int8 GEMMs and the attention matmuls in
fp32, and both store the word-embedding table in int8 (ExecuTorch looks its rows up with
`quantized_decomposed::embedding_byte`). ExecuTorch leaves the embedding lookup, the layer norms, the mean
pooling (`sum`, `expand`) and the L2 normalisation (`pow`) to portable kernels, so its graph is cut into dozens of
XNNPACK subgraphs; ONNX Runtime fuses more (`SkipLayerNormalization`, `Gelu`, quantize-and-matmul pairs into
`DynamicQuantizeMatMul`/`MatMulIntegerToFloat`) but keeps many `Reshape`/`Transpose` nodes around the attention.
Neither decides the race on this CPU: the GEMMs do. *How far int8 matrix products carry on this CPU* below times
MiniLM's Linears alone, and ONNX Runtime's int8 GEMMs gain clearly more over fp32 there than XNNPACK's, while the
two fp32 rows are close. On the VNNI CPU of the 2026-11-25 run ExecuTorch's int8 was the faster of the two. ORT's `quantize_dynamic` defaults to per-tensor weights where edgeq uses per-channel ones, which is what costs it
accuracy: passing `per_channel=True` (tried by hand) brought its cosine much closer to ExecuTorch's at about the
same speed.
""",
    "digits-cnn": """
An 8×8 input: every runtime spends most of its time on the call itself (argument conversion, dispatch), not on
the convolutions. ExecuTorch runs the whole net as one XNNPACK subgraph; ONNX Runtime as `QLinearConv`/`QGemm`
with a few layout `Transpose`s around them.
""",
}

GENERAL = [
    """
**qnnpack on x86 is slow, as expected.** torch's QNNPACK kernels are written for ARM NEON; on x86 it has only
SSE2 micro-kernels, without the AVX2/AVX-512/VNNI paths that fbgemm and the x86 engine use. Its rows show
what a `.ptl` built for an ARM phone costs if run on this host, not what qnnpack does on a phone; on the larger
models it is slower than eager fp32 here.
""",
    """
**torch.ao `x86` and `fbgemm` engines.** The `x86` engine (PyTorch 2.0+) dispatches each quantized op to fbgemm
or oneDNN, whichever suits the shape and the CPU; `fbgemm` always uses fbgemm. Both quantize the same way.
""",
    """
**Legacy dynamic int8 is the least accurate variant on MiniLM.** torch.ao's `quantize_dynamic` uses per-tensor
weights by default, and its fbgemm/x86 dynamic Linear quantizes activations with `reduce_range=True` (7 bits);
edgeq's ExecuTorch path uses per-channel weights and full 8-bit activations. qnnpack ignores `reduce_range`,
hence its higher cosine. torch.ao's `per_channel_dynamic_qconfig` is the usual remedy.
""",
    """
**Sub-millisecond rows.** The digits models take tens of microseconds; there the runtimes' per-call overhead
(Python binding, tensor or NumPy conversion, dispatch) is most of what is measured, so their CVs are higher and
their ranking says little about larger models.
""",
    """
**Random-init vision nets.** MobileNetV2 and ResNet-18 have random weights, so their logits are nearly flat and
top-1 agreement flips on tiny differences; the cosine to fp32 is the steadier signal. The check images are drawn
from the calibration distribution with a different seed, so no int8 variant is judged on its calibration data.
""",
    """
**Eager fp32 is usually the slowest baseline.** It runs the model op by op from Python (for MiniLM, transformers'
attention code), while the .pte and ONNX fp32 graphs run compiled kernels without Python between ops. ResNet-18
in this run is the exception: eager's oneDNN fp32 convolutions beat XNNPACK's on this AVX2-only CPU.
""",
    """
**Model memory** is the resident memory an artifact adds to the runner process: measured from just before it is
loaded (Python, torch and the runtime already imported: the baseline, a few hundred MiB, the same for every
artifact of a runtime) to the end of the timed runs, as the peak above that baseline (Linux's VmHWM, reset at
load). It is what tells two artifacts apart, where the process's peak RSS is mostly the runtime's. `edgeq run`
shows it as *model mem* beside that peak.
""",
    """
**Build s** is the time to build the artifact from the loaded model, from an empty cache: quantization
(calibration included), export and lowering. It is what one `edgeq run` pays once per variant; later runs
take the artifact from the cache.
""",
    """
**Noise.** This is a 2-core VM that other work may share; every row pools several fresh processes, and a
row with CV ≥ 10 % is flagged. The CV is the standard deviation over every timed call, so a single stall (a
preemption, Python's garbage collector, which runs inside every runner's timed loop) can flag a row whose median
is steady; the per-process medians show how steady the p50 is. Treat differences the verdict calls *n.s.* as ties.
""",
]


LSTM_LOWERINGS = """
**What decides the time.** One inference is 8 steps of 2 layers, and each step multiplies a 1×128 hidden state
(1×256 in the wavefront's second layer, which reads both layers' states at once) by a 512-row weight matrix; the
recurrence forbids batching the steps. Two costs add up. The GEMMs: each is an XNNPACK dynamic quantization of its
input followed by an int8 GEMM. The gate math: about ten small element-wise operators and slices per step, each
paying a fixed dispatch inside the XNNPACK runtime whatever its size. The probe splits the two: with the gate math
removed, the wavefront is faster by a fifth or less, so the GEMMs and their quantization are most of the time.

**What the attempts did.** Reordering the gate rows and slicing instead of splitting (*per layer, fused gates*)
keeps the recurrence inside XNNPACK (no portable split/select between subgraphs) and saves two activations per
step: a gain. A *joint GEMM* per step on `[x_t, h]` trades the add for a concat and gives up the batched input
matmul: no gain. The *wavefront* runs the layers in lockstep (layer 2 does step t while layer 1 does step t + 1),
so one set of gate operators serves both layers and the cell is spelled out 9 times instead of 16; the whole
recurrence lowers to one XNNPACK subgraph (the second one in its row is the classifier, cut off by the model's
`out[:, -1]`, a portable `select`). On this small LSTM it is the fastest, with the smallest .pte, and it builds
faster than the per-layer lowerings. It has a price that grows with the width: layer 2's input gates can no
longer be one batched matmul over all steps, so its input weights are read once per step. On a wide LSTM that
costs more than the dispatch it saves (`docs/quantization.md`, *LSTMs*, has a 3-layer, 256-unit example), so
edgeq uses the wavefront up to 128 hidden units and *per layer, fused gates* above that and for bidirectional
LSTMs. *One GEMM per wave* for both layers needs a zero block in the weight matrix: a third more int8 weights to
read per wave, and slower.

**What is left.** ONNX Runtime's `DynamicQuantizeLSTM` computes a layer's gates in one fused loop rather than as
ten operators, and multiplies by weights it packed once at load. XNNPACK has no LSTM or fused-gate operator
today, so a .pte must spell the cell out in operators; the wavefront spells it out half as often, and beyond that
the step left is a fused LSTM cell in the backend. ExecuTorch's fp32 row is the model as it is, whose `aten.lstm`
ExecuTorch decomposes layer by layer; ONNX Runtime's fp32 `LSTM` kernel beats it for the same reason.
"""


INT8_CEILING = """
A model's int8 .pte can gain over its fp32 .pte at most what its int8 matrix products gain over fp32 ones, and
MiniLM spends most of its time in these Linears; the rest of its graph (LayerNorm, softmax, the attention's fp32
batched matmuls, the embedding lookup) runs at the same speed in both. On a CPU without VNNI, XNNPACK's int8
GEMMs (dynamic: int8 weights, activations quantized per call; static: both int8) gain well under 2× over its fp32
GEMMs, and ONNX Runtime's MLAS int8 kernels gain more on the same CPU, which is also why ONNX Runtime's MiniLM
int8 beats edgeq's in the tables above. So on this CPU neither int8 scheme XNNPACK offers can bring MiniLM's .pte
to 2× its fp32 .pte, and edgeq's MiniLM int8 .pte (its ratio to fp32 is in *Ratios* above) sits close to the
ceiling this table measures. On the AVX-512 VNNI CPU of the
2026-11-25 run the same int8 .pte ran about 3× its fp32; ARM cores with the dot-product extension (`dotprod` in
a profile's ISA flags) are XNNPACK's main int8 target, and their speed-up must be measured on the device.
"""




LANGUAGE_MODELS = """
**What a decode step costs.** At batch 1 a decode step multiplies one token's activations by every weight matrix
once, so its time is the time to stream the weights from memory, plus what the kernels spend per weight that the
memory traffic does not hide, plus a fixed cost per call (the bindings, the runtime's dispatch, the cache update,
attention). llama-94m is large enough for the first two to dominate; zoo:tiny-llama's 3.6 MB of fp32 weights sit in
the CPU's caches, so it measures the fixed cost.

**llama-94m: the bytes decide the order.** In every runtime and at both thread counts the 4-bit program decodes
fastest, then the 8-bit, then fp32, the order of their sizes (fp32 weights are about four times the int8 ones and
six to seven times the int4 ones), and edgeq's 8da4w clears issue 25's bar over its fp32 .pte by a wide margin. *Size ÷
decode time* says how close each program comes to streaming its file at memory speed. llama.cpp's F32 gets
furthest on one core, so one core can read at least that fast, and every quantized program stays below it at one
thread: their kernels are limited by arithmetic (unpacking 4-bit weights, quantizing each token's activations to
int8, the integer dot products), not by memory. With the second core every program reaches about the same rate,
which is what the two cores' share of the memory bus allows; so the int4 programs gain most from the second
thread and the fp32 ones, already closest to that rate, least.

**Which is fastest, and why.** edgeq's 8da4w and llama.cpp's Q4_0 compiled for this CPU decode at the same speed,
at one thread and at two (the verdict is *n.s.*); both are ahead of everything else. Against the portable
llama.cpp the bench extra installs (its feature line above: AVX2, FMA, F16C, no AVX-512), edgeq's 8da4w is a few
per cent faster, and the native build closes exactly that gap: the same file, run by llama.cpp compiled for this
CPU, decodes as fast as edgeq's program, so what separated them is what the build lets llama.cpp use here
(AVX-512 and VNNI), not the 4-bit format. XNNPACK chooses its kernels at run time from the CPU's
flags, so edgeq's programs can use its AVX-512 VNNI kernels on this CPU without a special build, as a phone's get its NEON
dot-product kernels; llama.cpp must be compiled for the CPU it runs on. The two int8 programs are level at one
thread; at two, edgeq's 8da8w is a little ahead of the portable build. ONNX Runtime GenAI's int4 (MatMulNBits, blocks of 32, int8
activations) is clearly slower than both 4-bit programs. Both 4-bit formats group weights in blocks of 32;
llama.cpp's Q4_0 file keeps its output layer at Q6_K (its default mix) and quantizes the embedding table, where
edgeq's keeps the embedding table fp32: a larger file, not a slower step, since a step reads one row of it.

**The first token** is the whole prompt in one call: one matrix-matrix product per layer, compute-bound. At one
thread edgeq's int8 and int4 programs take it in well under half of the portable llama.cpp's time and clearly
less than the native build's, and compiling llama.cpp for
this CPU shortens its prefill much more than its decode (the wider instructions pay most where the work is arithmetic). At two
threads llama.cpp's prefill time halves while edgeq's does not improve, so there llama.cpp's native Q4_0 is level
with or ahead of edgeq's 4-bit program. Why edgeq's prefill does not use the second core was not profiled (an
ETDump of the prompt call would show which operators stay on one thread).

**edgeq's fp32 .pte is the slowest fp32.** llama.cpp's F32 GGUF of the same weights decodes clearly faster: at
batch 1 XNNPACK's fp32 matrix-vector products reach a lower share of memory speed than ggml's. Nobody ships the
fp32 program, but it is issue 25's baseline, so 8da4w's ratio over it flatters 8da4w somewhat; 8da4w is still
several times faster than llama.cpp's F32. Why XNNPACK's fp32 is slower here was not profiled either.

**zoo:tiny-llama: the fixed cost.** A step takes about a tenth of a millisecond in every runtime, weights or no
weights; quantizing gains edgeq only about a third, and a second thread makes every program slower (waking and
synchronising a thread pool for operators this small costs more than it saves; the two-thread rows are also the
noisiest, as other work started on the machine during them). At one thread the portable llama.cpp's Q4_0 has the
lowest fixed cost, and the build compiled for this CPU is markedly slower on this model, the opposite of
llama-94m (not profiled: something in its per-call path costs more, which only a model this small shows). For a
model this small the runtime's per-call overhead, Python bindings included, decides; it cannot show what 4-bit
weights give a model whose weights do not fit the caches.

**Agreement.** The fp32 programs agree with eager fp32 to rounding (edgeq's .pte and llama.cpp's F32 GGUF): the
check that the weights were carried over correctly, llama.cpp's q/k permutation included. llama-94m's weights are
random, so its next-token distributions are nearly flat and the greedy agreement of every 4-bit program is low and
about the same for all three runtimes: KL and cosine are the measures to read there, and they put the three 4-bit
programs close together and the 8-bit ones close to fp32 (llama.cpp's Q8_0, scaled per block of 32, a little
closer than 8da8w, scaled per output channel). On zoo:tiny-llama, trained and confident, every program keeps
nearly all of fp32's greedy choices.

**Reading the figures.** Two cores shared with other work: the load average is printed with each model and the CV
column flags noisy rows; the ratios carry their bootstrap intervals and per-round spread for that reason. These are
this x86 CPU's figures; a phone's memory bandwidth and XNNPACK's NEON dot-product kernels make a different table.
"""
