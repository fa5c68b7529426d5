#pragma once
/// @file optimizer.hpp
/// The optimizer plugin interface.

#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gradlab/error.hpp"
#include "gradlab/state.hpp"
#include "gradlab/tensor.hpp"

namespace gradlab {

/// A trained parameter as the optimizer sees it: qualified name and shape.
struct ParameterSlot {
    std::string name;
    Index rows = 0;
    Index cols = 0;
};

/// Turns gradients into updates. State (momentum, moments) is kept per parameter slot, created in attach().
template <typename Scalar>
class Optimizer {
public:
    virtual ~Optimizer() = default;

    /// The configured base learning rate, which the host's schedule scales.
    virtual double learningRate() const = 0;

    /// requires: called once, before update, with every trained parameter; slot i of update() is
    /// parameters[i]. ensures: per-parameter state allocated (no allocation in update()).
    virtual void attach(const std::vector<ParameterSlot>& parameters) = 0;

    /// requires: grad is the full gradient of the objective (loss + penalties) for slot `slot`; step counts
    /// from 1. ensures: delta overwritten with the change the host adds to value; slot state advanced.
    virtual void update(std::size_t slot, const Matrix<Scalar>& value, const Matrix<Scalar>& grad,
                        double learningRate, std::int64_t step, Matrix<Scalar>& delta) = 0;

    /// Shows every value update() carries from one step to the next (momentum, moments, accumulators, random
    /// streams), each under a name unique within this optimizer, e.g. "<slot name>.velocity"; a stateless
    /// optimizer writes an empty body. The host saves this state in checkpoints and restores it through the same
    /// call, so a resumed run continues bit for bit. requires: attach() was called.
    virtual void visitState(StateVisitor<Scalar>& state) = 0;
};

/// The bookkeeping every optimizer repeats: the attached slots, the per-slot state tensors (momentum, moments),
/// each allocated once in attach() with the slot's shape, the checks of update()'s arguments, and visitState()
/// naming each tensor "<slot name>.<tensor name>":
///
///     explicit Sgd(const gradlab::Options& options) : slots_("sgd") {
///         if (options.real("momentum") > 0) velocity_ = slots_.addTensor("velocity");
///     }
///     void attach(const std::vector<gradlab::ParameterSlot>& parameters) override { slots_.attach(parameters); }
///     void update(std::size_t slot, ...) override {
///         slots_.check(slot, grad);
///         MatrixType& velocity = slots_.tensor(velocity_, slot);
///         ...
///     }
///     void visitState(gradlab::StateVisitor<Scalar>& state) override { slots_.visit(state); }
template <typename Scalar>
class SlotState {
public:
    using MatrixType = Matrix<Scalar>;

    /// `optimizer` names the optimizer in messages ("adam: gradient of 'layers.0.dense.W' is ...").
    explicit SlotState(std::string optimizer) : optimizer_(std::move(optimizer)) {}

    /// Declares a tensor every slot carries, e.g. "velocity", filled with `initialValue` by attach(); returns its
    /// index for tensor(). requires: called before attach() (in the optimizer's constructor).
    std::size_t addTensor(std::string name, Scalar initialValue = Scalar(0)) {
        names_.push_back(std::move(name));
        initialValues_.push_back(initialValue);
        tensors_.emplace_back();
        return names_.size() - 1;
    }

    /// Keeps the slots and allocates every declared tensor for each: [rows x cols], its initial value.
    void attach(const std::vector<ParameterSlot>& parameters) {
        slots_ = parameters;
        for (std::size_t index = 0; index < tensors_.size(); ++index) {
            tensors_[index].clear();
            tensors_[index].reserve(parameters.size());
            for (const auto& slot : parameters)
                tensors_[index].push_back(MatrixType::Constant(slot.rows, slot.cols, initialValues_[index]));
        }
    }

    /// The attached slots, in the order of update()'s slot index.
    const std::vector<ParameterSlot>& slots() const { return slots_; }

    /// Declared tensor `index` (from addTensor()) of slot `slot`. requires: check(slot, ...) passed.
    MatrixType& tensor(std::size_t index, std::size_t slot) { return tensors_[index][slot]; }

    /// Throws Error unless `slot` was attached and grad has its shape.
    void check(std::size_t slot, const MatrixType& grad) const {
        checkIndex(slot);
        const ParameterSlot& expected = slots_[slot];
        if (grad.rows() != expected.rows || grad.cols() != expected.cols) {
            std::ostringstream message;
            message << optimizer_ << ": gradient of '" << expected.name << "' is [" << grad.rows() << " x "
                    << grad.cols() << "], attached as [" << expected.rows << " x " << expected.cols << "]";
            throw Error(message.str());
        }
    }

    /// Throws Error unless `slot` was attached and value and grad both have its shape.
    void check(std::size_t slot, const MatrixType& value, const MatrixType& grad) const {
        checkIndex(slot);
        const ParameterSlot& expected = slots_[slot];
        if (grad.rows() != expected.rows || grad.cols() != expected.cols || value.rows() != expected.rows ||
            value.cols() != expected.cols) {
            std::ostringstream message;
            message << optimizer_ << ": value/gradient of '" << expected.name << "' are [" << value.rows() << " x "
                    << value.cols() << "]/[" << grad.rows() << " x " << grad.cols() << "], attached as ["
                    << expected.rows << " x " << expected.cols << "]";
            throw Error(message.str());
        }
    }

    /// Throws Error unless step >= 1 (for optimizers whose update depends on the step, e.g. bias corrections).
    void checkStep(std::int64_t step) const {
        if (step < 1) throw Error(optimizer_ + ": step counts from 1, got " + std::to_string(step));
    }

    /// Shows every tensor to `state`, slot by slot, as "<slot name>.<tensor name>" (Optimizer::visitState()).
    void visit(StateVisitor<Scalar>& state) {
        for (std::size_t slot = 0; slot < slots_.size(); ++slot)
            for (std::size_t index = 0; index < tensors_.size(); ++index)
                state.tensor(slots_[slot].name + "." + names_[index], tensors_[index][slot]);
    }

private:
    void checkIndex(std::size_t slot) const {
        if (slot >= slots_.size())
            throw Error(optimizer_ + ": update of slot " + std::to_string(slot) + ", but " +
                        std::to_string(slots_.size()) + " parameters were attached");
    }

    std::string optimizer_;
    std::vector<ParameterSlot> slots_;
    std::vector<std::string> names_;                 ///< per declared tensor
    std::vector<Scalar> initialValues_;              ///< per declared tensor
    std::vector<std::vector<MatrixType>> tensors_;  ///< [declared tensor][slot]
};

}  // namespace gradlab
