#pragma once
/// @file module.hpp
/// Named parameters and the base every parameterised plugin object derives from.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gradlab/error.hpp"
#include "gradlab/tensor.hpp"

namespace gradlab {

/// How a parameter is initialised by default and how large its fans are (for glorot, he, lecun).
struct ParameterInit {
    Index fanIn = 0;
    Index fanOut = 0;
    /// Default initializer as a YAML flow value, e.g. "glorot_uniform" or "{kind: constant, value: 0.25}".
    /// A config overrides it per parameter with the layer's `init:` map.
    std::string initializer = "zeros";
    /// Weights are regularised by default, biases and slopes are not.
    bool isWeight = false;
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

    /// The parameter called `name`; throws listing the known names.
    Parameter<Scalar>& param(const std::string& name) {
        for (auto& parameter : parameters_)
            if (parameter->name == name) return *parameter;
        std::string known;
        for (auto& parameter : parameters_) known += (known.empty() ? "" : ", ") + parameter->name;
        throw Error("no parameter '" + name + "' (known: " + (known.empty() ? "none" : known) + ")");
    }

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

    /// Makes a child's parameters part of this module's, under `name.`.
    void addChild(std::string name, Module<Scalar>& child) { children_.emplace_back(std::move(name), &child); }

private:
    std::vector<std::unique_ptr<Parameter<Scalar>>> parameters_;
    std::vector<std::pair<std::string, Module<Scalar>*>> children_;
};

}  // namespace gradlab
