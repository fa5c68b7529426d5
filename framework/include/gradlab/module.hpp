#pragma once
/// @file module.hpp
/// Named parameters and the base every parameterised plugin object derives from.

#include <memory>
#include <string>
#include <map>
#include <utility>
#include <vector>

#include "gradlab/error.hpp"
#include "gradlab/options.hpp"
#include "gradlab/tensor.hpp"
#include "gradlab/visibility.hpp"

namespace gradlab {

/// An initializer and its option values, typed: what a layer declares as a parameter's default initialiser.
///     "glorot_uniform"                              (a name converts: the initializer's defaults apply)
///     InitializerSpec::constant(0.25)               (`{kind: constant, value: 0.25}` in a config)
///     InitializerSpec("orthogonal").with("gain", 2.0)
/// The host checks it against the initializer's declared options, as it checks a config's, when it initialises
/// the parameter; a config's `init:` map replaces it per parameter.
struct GRADLAB_API InitializerSpec {
    std::string kind = "zeros";
    std::map<std::string, OptionValue> options;  ///< option name -> value; options not given take their default

    InitializerSpec() = default;
    InitializerSpec(const char* kind) : kind(kind) {}           // NOLINT: a name is a spec
    InitializerSpec(std::string kind) : kind(std::move(kind)) {}  // NOLINT: a name is a spec
    InitializerSpec(std::string kind, std::map<std::string, OptionValue> options)
        : kind(std::move(kind)), options(std::move(options)) {}

    /// Sets one option (chainable).
    InitializerSpec& with(std::string name, OptionValue value) {
        options[std::move(name)] = std::move(value);
        return *this;
    }

    /// The built-in "constant" initializer: every entry = value.
    static InitializerSpec constant(double value) { return InitializerSpec("constant").with("value", value); }

    friend bool operator==(const InitializerSpec& a, const InitializerSpec& b) {
        return a.kind == b.kind && a.options == b.options;
    }
    friend bool operator!=(const InitializerSpec& a, const InitializerSpec& b) { return !(a == b); }
};

/// How a parameter is initialised by default and how large its fans are (for glorot, he, lecun). Built in one
/// line: `ParameterInit::weight(inputs, units)` (glorot_uniform, regularised), `ParameterInit::bias(inputs,
/// units)` (zeros, not regularised), or either with another initializer as the third argument.
struct ParameterInit {
    Index fanIn = 0;
    Index fanOut = 0;
    /// The default initializer; a config overrides it per parameter with the layer's `init:` map.
    InitializerSpec initializer;
    /// Weights are regularised by default, biases, scales and slopes are not.
    bool isWeight = false;

    /// A weight matrix: regularised by default, glorot_uniform unless said otherwise.
    static ParameterInit weight(Index fanIn, Index fanOut, InitializerSpec initializer = "glorot_uniform") {
        return ParameterInit{fanIn, fanOut, std::move(initializer), true};
    }
    /// A bias, scale or slope: not regularised by default, zeros unless said otherwise.
    static ParameterInit bias(Index fanIn, Index fanOut, InitializerSpec initializer = "zeros") {
        return ParameterInit{fanIn, fanOut, std::move(initializer), false};
    }
};

/// One trainable tensor: its value and the gradient of the loss with respect to it.
/// The trainer zeroes `grad` before each step; backward passes add into it.
template <typename Scalar>
struct Parameter {
    std::string name;  ///< local name within its module, e.g. "W"
    Matrix<Scalar> value;
    Matrix<Scalar> grad;
    ParameterInit init;
};

/// A named, non-trained tensor a module keeps between steps (batch norm's running statistics). Saved with
/// the model; never touched by optimizers or regularizers.
template <typename Scalar>
struct Buffer {
    std::string name;
    Matrix<Scalar> value;
};

/// Receives the per-step statistics a module computed while the host was tracing (see Module::tracing()):
/// e.g. an RNN's "timestep_grad_norm" [T], an LSTM's "forget_gate_mean" [1]. The host writes each series to
/// /trace/<name>/<layer name>, one row per traced step; a series keeps its length from step to step.
class StatisticsSink {
public:
    virtual ~StatisticsSink() = default;
    virtual void add(const std::string& name, const double* values, Index count) = 0;
};

/// A parameter with its qualified name, as the trace and the optimizer know it: `layers.3.dense.W`.
template <typename Scalar>
struct NamedParameter {
    std::string name;
    Parameter<Scalar>* parameter = nullptr;
};

/// Base of every plugin object that owns parameters (layers, activations). Parameters are named, never
/// positional: `layer.param("W")`. Child modules (a dense layer's activation, a residual block's layers)
/// contribute their parameters under a prefix.
template <typename Scalar>
class Module {
public:
    virtual ~Module() = default;
    Module() = default;
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;

    /// The parameter called `name`, own ("W") or a child's by qualified name ("activation.slope");
    /// throws listing the known names.
    Parameter<Scalar>& param(const std::string& name) {
        std::vector<NamedParameter<Scalar>> all;
        collectParameters("", all);
        for (auto& parameter : all)
            if (parameter.name == name) return *parameter.parameter;
        std::string known;
        for (auto& parameter : all) known += (known.empty() ? "" : ", ") + parameter.name;
        throw Error("no parameter '" + name + "' (known: " + (known.empty() ? "none" : known) + ")");
    }

    /// The buffer called `name`; throws listing the known names.
    Buffer<Scalar>& buffer(const std::string& name) {
        std::string known;
        for (auto& entry : buffers_) {
            if (entry->name == name) return *entry;
            known += (known.empty() ? "" : ", ") + entry->name;
        }
        throw Error("no buffer '" + name + "' (known: " + (known.empty() ? "none" : known) + ")");
    }

    /// Every buffer of this module and its children, names qualified with `prefix`.
    void collectBuffers(const std::string& prefix, std::vector<std::pair<std::string, Buffer<Scalar>*>>& out) {
        for (auto& entry : buffers_) out.emplace_back(prefix + entry->name, entry.get());
        for (auto& [childName, child] : children_) child->collectBuffers(prefix + childName + ".", out);
    }

    /// Whether the host traces the current step: compute optional statistics (O(size) extras) only then.
    bool tracing() const { return tracing_; }

    /// Host side: sets the tracing flag of this module and its children before a step.
    void setTracing(bool tracing) {
        tracing_ = tracing;
        for (auto& child : children_) child.second->setTracing(tracing);
    }

    /// Whether backward must accumulate parameter gradients: true, except in a probe's signal-only backward
    /// (ProbeContext::backwardSignal), whose parameter gradients nobody reads. A layer may then skip its
    /// `grad +=` products (dense does: a third of a backward's work); computing them anyway is correct too.
    bool parameterGradientsWanted() const { return parameterGradientsWanted_; }

    /// Host side: sets parameterGradientsWanted() of this module and its children.
    void setParameterGradientsWanted(bool wanted) {
        parameterGradientsWanted_ = wanted;
        for (auto& child : children_) child.second->setParameterGradientsWanted(wanted);
    }

    /// Reports the statistics computed in the last traced forward/backward; the default reports nothing.
    /// Names are plain words ("timestep_grad_norm"); the host adds the layer's name.
    virtual void statistics(StatisticsSink& sink) const { (void)sink; }

    /// This module's own parameters, in declaration order.
    const std::vector<std::unique_ptr<Parameter<Scalar>>>& ownParameters() const { return parameters_; }

    /// Every parameter of this module and its children, names qualified with `prefix`.
    void collectParameters(const std::string& prefix, std::vector<NamedParameter<Scalar>>& out) {
        for (auto& parameter : parameters_) out.push_back({prefix + parameter->name, parameter.get()});
        for (auto& [childName, child] : children_) child->collectParameters(prefix + childName + ".", out);
    }

protected:
    /// Declares a parameter of shape [rows x cols]; value and grad start at zero until the host initialises.
    /// ensures: the returned reference stays valid for the module's lifetime.
    Parameter<Scalar>& addParameter(std::string name, Index rows, Index cols, ParameterInit init) {
        for (auto& parameter : parameters_)
            if (parameter->name == name) throw Error("parameter '" + name + "' declared twice");
        auto parameter = std::make_unique<Parameter<Scalar>>();
        parameter->name = std::move(name);
        parameter->value = Matrix<Scalar>::Zero(rows, cols);
        parameter->grad = Matrix<Scalar>::Zero(rows, cols);
        parameter->init = std::move(init);
        parameters_.push_back(std::move(parameter));
        return *parameters_.back();
    }

    /// Declares a buffer of shape [rows x cols], zero-filled.
    Buffer<Scalar>& addBuffer(std::string name, Index rows, Index cols) {
        auto entry = std::make_unique<Buffer<Scalar>>();
        entry->name = std::move(name);
        entry->value = Matrix<Scalar>::Zero(rows, cols);
        buffers_.push_back(std::move(entry));
        return *buffers_.back();
    }

    /// Makes a child's parameters part of this module's, under `name.`.
    void addChild(std::string name, Module<Scalar>& child) { children_.emplace_back(std::move(name), &child); }

private:
    std::vector<std::unique_ptr<Parameter<Scalar>>> parameters_;
    std::vector<std::pair<std::string, Module<Scalar>*>> children_;
    std::vector<std::unique_ptr<Buffer<Scalar>>> buffers_;
    bool tracing_ = false;
    bool parameterGradientsWanted_ = true;
};

}  // namespace gradlab
