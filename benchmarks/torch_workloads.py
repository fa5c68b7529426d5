#!/usr/bin/python3
"""The benchmark workloads in PyTorch, built from the same gradlab YAML configs, timed the same way.

Usage: torch_workloads.py CONFIG --threads N --steps S --warmup W --repeats R [--data FILE] [--products]

Reads a benchmark config (benchmarks/configs/*.yaml), builds the equivalent float32 PyTorch model (dense ->
nn.Linear, activations, residual blocks, batchnorm -> nn.BatchNorm1d, lstm -> nn.LSTM with a head on the last
step), loss (sse = sum of squares, mse) and optimizer (torch.optim.SGD), and times the plain training loop

    optimizer.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); optimizer.step(); loss.item()

on one fixed batch (the configs' data is one batch), after W warm-up steps, R times S steps. Prints one JSON
object: the steps/s of each repeat (wall clock, and per second of the process's CPU time), torch's version and
thread count, and the BLAS library the process loaded.
With --products it times, instead of training, the step's matrix products alone (torch.mm/addmm on
preallocated tensors, the products benchmarks/gemm_limit.cpp times with Eigen): the practical limit of the BLAS
PyTorch loaded. Only the subset of the config format the benchmark configs use is understood; anything else is
an error.
"""

import argparse
import json
import math
import sys
import time

import h5py
import numpy as np
import torch
import yaml


def activation_module(name):
    """The PyTorch module for a gradlab activation name."""
    table = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "identity": torch.nn.Identity}
    if isinstance(name, dict):
        name = name.get("kind")
    if name not in table:
        raise SystemExit(f"torch_workloads: activation {name!r} not supported (known: {sorted(table)})")
    return table[name]()


def expand(layers):
    """Expands {repeat: N, layers: [...]} items as gradlab does."""
    out = []
    for item in layers:
        if isinstance(item, dict) and "repeat" in item:
            for _ in range(int(item["repeat"])):
                out.extend(expand(item["layers"]))
        else:
            out.append(item)
    return out


class Residual(torch.nn.Module):
    """y = F(x) + x."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return self.body(x) + x


class LastStep(torch.nn.Module):
    """An nn.LSTM over [T, B, F] whose output is h_{T-1} [B, H] (gradlab's return_sequences: false)."""

    def __init__(self, inputs, units, forget_bias):
        super().__init__()
        self.lstm = torch.nn.LSTM(inputs, units)
        with torch.no_grad():
            # gradlab's defaults: W_x glorot_uniform, each W_h* orthogonal, b_f = forget_bias, other biases 0.
            torch.nn.init.xavier_uniform_(self.lstm.weight_ih_l0)
            for gate in range(4):
                torch.nn.init.orthogonal_(self.lstm.weight_hh_l0[gate * units:(gate + 1) * units])
            self.lstm.bias_ih_l0.zero_()
            self.lstm.bias_hh_l0.zero_()
            self.lstm.bias_ih_l0[units:2 * units] = forget_bias

    def forward(self, x):
        output, _ = self.lstm(x)
        return output[-1]


def build(layers, features):
    """nn.Sequential of the config's layers; returns (module, output features)."""
    modules = []
    for item in expand(layers):
        if isinstance(item, str):
            # A bare name is a layer without options (`- batchnorm`) or an activation used as a layer (`- relu`).
            item = {"kind": item} if item in ("batchnorm",) else {"kind": "activation", "activation": item}
        kind = item["kind"]
        if kind == "dense":
            linear = torch.nn.Linear(features, int(item["units"]), bias=bool(item.get("bias", True)))
            init = (item.get("init") or {}).get("W")
            with torch.no_grad():
                if isinstance(init, dict) and init.get("kind") == "normal":
                    linear.weight.normal_(float(init.get("mean", 0)), float(init.get("std", 1)))
                elif init is None:
                    torch.nn.init.xavier_uniform_(linear.weight)  # gradlab's default glorot_uniform
                else:
                    raise SystemExit(f"torch_workloads: initializer {init!r} not supported")
                if linear.bias is not None:
                    linear.bias.zero_()
            modules.append(linear)
            features = int(item["units"])
            if item.get("activation", "identity") not in ("identity", None):
                modules.append(activation_module(item["activation"]))
        elif kind == "activation":
            modules.append(activation_module(item["activation"]))
        elif kind == "batchnorm":
            modules.append(torch.nn.BatchNorm1d(features, eps=float(item.get("epsilon", 1e-5)),
                                                momentum=float(item.get("momentum", 0.1))))
        elif kind == "residual":
            body, width = build(item["layers"], features)
            if width != features:
                raise SystemExit("torch_workloads: residual blocks with a projection are not supported")
            modules.append(Residual(body))
        elif kind == "lstm":
            if item.get("return_sequences", False) or int(item.get("truncate", 0)) != 0:
                raise SystemExit("torch_workloads: only lstm with return_sequences: false, truncate: 0")
            modules.append(LastStep(features, int(item["units"]), float(item.get("forget_bias", 1.0))))
            features = int(item["units"])
        else:
            raise SystemExit(f"torch_workloads: layer kind {kind!r} not supported")
    return torch.nn.Sequential(*modules), features


def load_batch(config, data_file, generator):
    """One batch (x, y) as the model takes it: [B, F] or, for sequences, [T, B, F]; y [B, K]."""
    data = config["data"]
    batch = int(config["training"]["batch_size"])
    if data["kind"] == "random_regression":
        x = torch.randn(batch, int(data["inputs"]), generator=generator)
        y = torch.randn(batch, int(data["outputs"]), generator=generator)
        return x, y
    if data["kind"] == "hdf5_sequences":
        with h5py.File(data_file, "r") as f:
            inputs = np.asarray(f[data.get("inputs", "inputs")][:batch], dtype=np.float32)  # [B, T, F]
            targets = np.asarray(f[data.get("targets", "targets")][:batch], dtype=np.float32)  # [B, K]
        return torch.from_numpy(np.ascontiguousarray(inputs.transpose(1, 0, 2))), torch.from_numpy(targets)
    raise SystemExit(f"torch_workloads: data kind {data['kind']!r} not supported")


def product_step(config, x, model):
    """A function running one training step's matrix products only, with torch.mm/addmm (its BLAS) on
    preallocated tensors: the products gemm_limit.cpp times with Eigen, for the same shapes (x [B, F] row-major
    is gradlab's [F x B] column-major)."""
    calls = []
    batch = x.shape[-2]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    lstms = [m for m in model.modules() if isinstance(m, torch.nn.LSTM)]
    first = True
    for lstm in lstms:
        steps, features, hidden = x.shape[0], x.shape[2], lstm.hidden_size
        w_x, w_h = lstm.weight_ih_l0.detach().clone(), lstm.weight_hh_l0.detach().clone()
        inputs = torch.randn(steps * batch, features)
        gates = torch.empty(steps * batch, 4 * hidden)
        states = torch.randn(steps * batch, hidden)
        gates_grad = torch.randn(steps * batch, 4 * hidden)
        step_grad = torch.empty(batch, hidden)
        w_x_grad, w_h_grad = torch.zeros_like(w_x), torch.zeros_like(w_h)

        def lstm_products(steps=steps, batch=batch):
            torch.mm(inputs, w_x.t(), out=gates)
            for t in range(1, steps):
                gates[t * batch:(t + 1) * batch].addmm_(states[(t - 1) * batch:t * batch], w_h.t())
            for t in range(steps - 1, 0, -1):
                torch.mm(gates_grad[t * batch:(t + 1) * batch], w_h, out=step_grad)
            w_x_grad.addmm_(gates_grad.t(), inputs)
            w_h_grad.addmm_(gates_grad[batch:].t(), states[:-batch])
        calls.append(lstm_products)
        first = False
    operands = []
    for linear in linears:
        out_features, in_features = linear.weight.shape
        operands.append((linear.weight.detach().clone(), torch.randn(batch, in_features), torch.empty(batch, out_features),
                         torch.randn(batch, out_features), torch.zeros(out_features, in_features),
                         torch.empty(batch, in_features), not first))
        first = False

    def dense_products():
        for weight, inputs, outputs, _, _, _, _ in operands:
            torch.mm(inputs, weight.t(), out=outputs)
        for weight, inputs, _, outputs_grad, weight_grad, inputs_grad, needs_input_grad in reversed(operands):
            weight_grad.addmm_(outputs_grad.t(), inputs)
            if needs_input_grad:
                torch.mm(outputs_grad, weight, out=inputs_grad)

    def step():
        for call in calls:
            call()
        dense_products()
    return step


def blas_library():
    """The BLAS shared library this process has mapped (which libblas.so.3 torch's GEMMs go to)."""
    found = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "blas" in path or "mkl" in path:
                found.add(path)
    return sorted(found)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", help="the data file of an hdf5_sequences config")
    parser.add_argument("--products", action="store_true",
                        help="time only the step's matrix products (torch.mm on preallocated tensors), not training")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    with open(args.config) as f:
        config = yaml.safe_load(f)
    if config.get("precision", "float32") != "float32":
        raise SystemExit("torch_workloads: only float32 configs")
    x, y = load_batch(config, args.data, generator)
    features = x.shape[-1]
    model, _ = build(config["model"]["layers"], features)
    model.train()
    loss_kind = config.get("loss", "mse")
    if loss_kind == "sse":
        loss_fn = lambda p, t: ((p - t) ** 2).sum()
    elif loss_kind == "mse":
        loss_fn = torch.nn.functional.mse_loss
    else:
        raise SystemExit(f"torch_workloads: loss {loss_kind!r} not supported")
    opt_config = config["optimizer"]
    if opt_config.get("kind") != "sgd":
        raise SystemExit("torch_workloads: only the sgd optimizer")
    optimizer = torch.optim.SGD(model.parameters(), lr=float(opt_config["lr"]),
                                momentum=float(opt_config.get("momentum", 0.0)))

    def train_step():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    step = train_step
    if args.products:
        products = product_step(config, x, model)

        def step():
            with torch.no_grad():
                products()
            return math.nan

    for _ in range(args.warmup):
        step()
    rates, cpu_rates = [], []
    last_loss = math.nan
    for _ in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(args.steps):
            last_loss = step()
        rates.append(args.steps / (time.perf_counter() - start))
        cpu_rates.append(args.steps / (time.process_time() - start_cpu))
    json.dump({"steps_per_second": rates, "steps_per_cpu_second": cpu_rates, "torch": torch.__version__, "threads": torch.get_num_threads(),
               "blas": blas_library(), "last_loss": last_loss}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
