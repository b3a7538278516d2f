#!/usr/bin/env bash
# Issue 9's GPU benchmark, meant to finish in under 8 minutes on one GPU:
#   1. wpgjax on halfcheetah: 1, 8 and 64 seeds vmapped in one program vs single-seed runs
#      (benchmarks/vmap_scaling.py; the target is 64 vmapped seeds in <= 3x the wall-clock of one seed);
#   2. Brax SAC on the same task and env-step budget (benchmarks/brax_baselines.py, with its
#      jax.device_put_replicated shim for jax >= 0.10).
#   3. the same two on a DM Control task, dm_control/CartpoleSwingup (MJX; needs the playground extra).
# Every file names the device it ran on.
#
# Usage, from the project root:   benchmarks/gpu.sh [OUTDIR]        (default benchmarks/results/gpu)
#   SMOKE=1 benchmarks/gpu.sh /tmp/gpu-smoke   tiny budgets and N = 1, 2: checks on a CPU that every step starts
#   TIMESTEPS=N                                  the per-seed env-step budget (default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-benchmarks/results/gpu}
mkdir -p "$out"
timesteps=${TIMESTEPS:-20000}
ns="1 8 64"
max_sequential=2
if [ "${SMOKE:-0}" = 1 ]; then timesteps=1024; ns="1 2"; max_sequential=1; fi

{
  date -u +%FT%TZ
  python -c "import jax; print('jax', jax.__version__, jax.devices())"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: none"
} | tee "$out/device.txt"

start=$(date +%s)
python benchmarks/vmap_scaling.py --env halfcheetah --timesteps "$timesteps" --num-evals 2 --ns $ns \
  --max-sequential "$max_sequential" --out "$out/vmap_scaling_halfcheetah"
echo "vmap scaling: $(( $(date +%s) - start )) s"

# Brax counts its random-action prefill in its budget; wpgjax's num_timesteps excludes the preset's 8192.
start=$(date +%s)
python benchmarks/brax_baselines.py --env halfcheetah --algo sac --backend generalized --timesteps "$(( timesteps + 8192 ))" \
  --num-evals 2 --quiet --out "$out/brax_sac_halfcheetah.json"
echo "Brax SAC: $(( $(date +%s) - start )) s"

# The DM Control task: its preset (Playground's SAC recipe at a CPU's scale, 16 envs and batch 256, without the
# critic's LayerNorm) and Brax SAC with Playground's recipe at the same scale.
start=$(date +%s)
python benchmarks/vmap_scaling.py --env dm_control/CartpoleSwingup --timesteps "$timesteps" --num-evals 2 --ns $ns \
  --max-sequential "$max_sequential" --out "$out/vmap_scaling_cartpole_swingup"
python benchmarks/brax_baselines.py --env dm_control/CartpoleSwingup --algo sac --timesteps "$(( timesteps + 8192 ))" \
  --num-evals 2 --quiet --out "$out/brax_sac_cartpole_swingup.json"
echo "DM Control (CartpoleSwingup): $(( $(date +%s) - start )) s"
