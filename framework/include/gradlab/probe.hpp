#pragma once
/// @file probe.hpp
/// The probe plugin interface: a measurement taken at chosen steps of a run through a narrow context, which
/// observes the model and never disturbs training (a run with a probe is bit-identical to the run without it).
///
///     template <typename Scalar>
///     class MyProbe : public gradlab::Probe<Scalar> {
///     public:
///         explicit MyProbe(const gradlab::Options& options) : examples_(options.integer("examples")) {}
///         void observe(gradlab::ProbeContext<Scalar>& context) override {
///             const auto& y = context.forward(context.batch(), gradlab::Phase::eval);
///             double value = y.norm();
///             context.write("output_norm", {}, &value);  // /probes/<name>/output_norm [S]
///         }
///     };
///     GRADLAB_PLUGIN("my_probes", "1.0.0", registry) {
///         registry.addProbe<MyProbe>("my_probe", "what it measures")
///             .option(gradlab::OptionSpec::integer("examples", 8, "samples of the probe batch").min(1));
///     }

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gradlab/error.hpp"
#include "gradlab/layer.hpp"
#include "gradlab/module.hpp"
#include "gradlab/tensor.hpp"

namespace gradlab {

/// The keys of a `probes:` entry the host reads itself (schedule, batch, naming, where in the network); a probe
/// plugin cannot declare options of these names. `from` is read by its node type: a scalar (`train` | `eval`)
/// picks where the probe batch is drawn from, a list of layer names gives ProbeContext::fromLayers() (the batch
/// is then drawn from the training data). `to: <layer name>` gives ProbeContext::toLayer(), `timesteps: [t...]`
/// ProbeContext::timesteps().
inline constexpr const char* probeHostKeys[] = {"name", "every", "at", "at_init", "at_end", "batch", "from", "to",
                                                "timesteps"};

/// One layer of the network as a probe sees it.
struct LayerInfo {
    std::string name;  ///< "layers.<index>.<kind>", as the trace names it
    std::string kind;  ///< the layer plugin, e.g. "dense"
    Shape input;       ///< what the layer takes (features per timestep, timesteps)
    Shape output;      ///< what it produces
    bool recurrent = false;  ///< it carries a state h_t across timesteps (rnn, lstm, gru): stateGradient() works
    /// Its parameters are ProbeContext parameters firstParameter .. firstParameter + parameterCount - 1, in the
    /// order of the layer's collectParameters() (and of its sampleGradientFactors()).
    std::size_t firstParameter = 0;
    std::size_t parameterCount = 0;
};

/// The mean-field picture of the network at initialisation, as the host computes it for /theory
/// (framework/src/theory/mean_field.hpp): h^l = W^l phi(h^{l-1}) + b^l with one element-wise activation phi.
struct MeanFieldView {
    bool applies = false;     ///< false: the network is not of that form (or the map has no fixed point); see note
    std::string note;         ///< why not, or how the figures were measured
    std::string activation;   ///< phi's plugin name
    std::string weightInit;   ///< initializer of the hidden dense layers' W ("orthogonal", "normal", ...)
    double sigmaW2 = 0;       ///< sigma_w^2 measured on every dense layer's initial W (mean of W^2 times fan-in)
    double sigmaB2 = 0;       ///< sigma_b^2 measured on every dense layer's initial b (mean of b^2)
    double qStar = 0;         ///< q*, the fixed point of the length map
    double chi1 = 0;          ///< chi_1 = sigma_w^2 mu_1
    double mu1 = 0;           ///< mu_1 = E[phi'(h)^2], h ~ N(0, q*)
    double mu2 = 0;           ///< mu_2 = E[phi'(h)^4], h ~ N(0, q*)
    std::int64_t denseLayers = 0;  ///< dense layers in the network
    std::int64_t activationLayers = 0;  ///< layers applying phi (dense layers with it, activation layers)
    bool squareLayers = false;     ///< every dense layer's W is square
    std::int64_t width = 0;        ///< N, the units of the first dense layer
};

/// What a probe may see and do. The host implements it; every method is safe to call at any probe step, and
/// nothing a probe does through it reaches training: forward/backward run on the probe's own buffers of the
/// network (layers' kept state, batch norm's running statistics and the parameters' gradients are restored
/// or swapped out), the probe batch comes from a random stream of its own, and parameters are only changed
/// inside a ScopedPerturbation, which restores them bit for bit.
///
/// Layer indices l run 0 .. layers().size() - 1; "output l" is layer l's output, "signal l" the gradient at it.
template <typename Scalar>
class ProbeContext {
public:
    using MatrixType = Matrix<Scalar>;

    virtual ~ProbeContext() = default;

    /// The probe step: training updates applied to the parameters so far (0 = at initialisation).
    virtual std::int64_t step() const = 0;
    /// The run's total training steps.
    virtual std::int64_t totalSteps() const = 0;

    /// Every layer, in order.
    virtual const std::vector<LayerInfo>& layers() const = 0;
    /// The shape of one input sample.
    virtual Shape inputShape() const = 0;
    /// The layer indices named by the probe's `from: [layer names]` list (empty when not given), in the
    /// config's order; the host checked the names.
    virtual const std::vector<std::size_t>& fromLayers() const = 0;
    /// The layer named by `to: <layer name>` (default: the last layer), where the probe's map ends; every layer
    /// of fromLayers() is below it (the host checked).
    virtual std::size_t toLayer() const = 0;
    /// The timesteps of `timesteps: [t...]` (empty when not given), as listed; the host checked that the
    /// network has a recurrent layer and that 0 <= t < its timesteps for each.
    virtual const std::vector<Index>& timesteps() const = 0;

    /// Number of trained parameters.
    virtual std::size_t parameterCount() const = 0;
    /// Qualified name of parameter i, `layers.<index>.<kind>.<name>`.
    virtual const std::string& parameterName(std::size_t i) const = 0;
    /// The current value of parameter i. requires: i < parameterCount().
    virtual const MatrixType& parameterValue(std::size_t i) const = 0;
    /// The gradient parameter i was last updated with (after penalties and clipping); zero before step 1.
    virtual const MatrixType& parameterGradient(std::size_t i) const = 0;
    /// The parameter called `name` of layer `layer` (e.g. "W"); throws listing the layer's parameters.
    virtual const MatrixType& layerParameter(std::size_t layer, const std::string& name) const = 0;

    /// The mean-field picture of the network at initialisation (see MeanFieldView).
    virtual const MeanFieldView& meanField() const = 0;

    /// The probe batch: `batch:` samples drawn once, without replacement, from the training or the validation
    /// data (`from: train|eval`) by the probe's own random stream; [features x (timesteps * B)], timestep-major
    /// as layers see it (tensor.hpp). The same samples at every probe step.
    virtual const MatrixType& batch() const = 0;
    /// The probe batch's targets, in the loss's layout.
    virtual const MatrixType& batchTargets() const = 0;
    /// B, the samples in the probe batch (with `batch: all`, every sample of its source, in the source's order).
    virtual Index batchSize() const = 0;
    /// The learning rate of the update that follows this probe step (step()'s): the optimizer's `lr` times the
    /// schedule's factor at step(); at `at_end`, the rate of the run's last update.
    virtual double learningRate() const = 0;

    /// Runs the network on x at the current parameters. requires: x is [input features x (timesteps * B)] for
    /// some B >= 1. ensures: returns the output [outputs x columns], valid until the next forward; every
    /// layerInput/layerOutput updated. In the train phase batch norm uses batch statistics; its running
    /// statistics are restored when the probe returns.
    virtual const MatrixType& forward(const MatrixType& x, Phase phase) = 0;
    /// Layer l's input in the last forward (x itself for l = 0).
    virtual const MatrixType& layerInput(std::size_t layer) const = 0;
    /// Layer l's output in the last forward.
    virtual const MatrixType& layerOutput(std::size_t layer) const = 0;

    /// Back-propagates `upstream` = d(something)/d(output of layer `top`) through layers top .. 0 of the last
    /// forward (whose phase it differentiates). requires: forward() was called; upstream has the shape of
    /// layerOutput(top); top < layers().size(). ensures: returns d(something)/dx [x's shape], valid until the
    /// next backward; signal(l) set for l <= top; the parameters' gradients of this backward are in
    /// scratchGradient(i) (overwritten); the training gradients are untouched.
    virtual const MatrixType& backward(const MatrixType& upstream, std::size_t top) = 0;
    /// backward() at the network's output.
    const MatrixType& backward(const MatrixType& upstream) { return backward(upstream, layers().size() - 1); }
    /// backward() for the signal only: the input gradient, signal(l) and stateGradient() as there, but the
    /// scratch gradients are left unspecified (layers may skip their parameter gradients: for dense layers a
    /// third less work). For Jacobians, where no parameter gradient is read.
    virtual const MatrixType& backwardSignal(const MatrixType& upstream, std::size_t top) = 0;
    /// d(something)/d(output of layer l) in the last backward, for l <= its top.
    virtual const MatrixType& signal(std::size_t layer) const = 0;
    /// d(something)/dh_t of recurrent layer `layer` (LayerInfo::recurrent) at t = timesteps()[k] in the last
    /// backward: the gradient at its state through the recurrence, [state size x B]. dh_{T-1}/dh_t is read by
    /// a backward from that layer (`top` = layer) with upstream e_j at its last step. requires: the last
    /// backward's top >= layer; k < timesteps().size().
    virtual const MatrixType& stateGradient(std::size_t layer, std::size_t k) const = 0;
    /// Parameter i's gradient from the last backward (or lossGradient()).
    virtual const MatrixType& scratchGradient(std::size_t i) const = 0;

    /// The training loss on (x, targets) at the current parameters, forward in `phase`, with its gradient with
    /// respect to every parameter in scratchGradient(i) (loss only: no regularizer penalties). The training
    /// gradients are untouched.
    virtual double lossGradient(const MatrixType& x, const MatrixType& targets, Phase phase) = 0;

    /// The gradient at the output of each sample's own loss term, after a forward of B samples whose targets are
    /// `targets` (in the loss's layout): column t B + i holds d l_i / d y_{t,i}, l_i the loss of sample i alone (the
    /// loss of a batch of one: for sse its squared error, for the mean losses its mean), unscaled by B.
    /// requires: forward() of B samples; targets of those B samples. ensures: [outputs x columns of the output],
    /// valid until the next call; costs B evaluations of the loss on one sample's outputs, no layer work.
    virtual const MatrixType& sampleLossGradients(const MatrixType& targets) = 0;
    /// Layer l's Layer::couplesSamples(phase): its forward in that phase mixes the batch's samples.
    virtual bool couplesSamples(std::size_t layer, Phase phase) const = 0;
    /// Layer l's Layer::sampleGradientFactors() on the input and output gradient of the last backward(): false
    /// when the layer has none; else one entry per parameter of the layer (LayerInfo::firstParameter on).
    /// requires: a backward() (not backwardSignal()) whose top is at or above l, no forward since.
    virtual bool sampleGradientFactors(std::size_t layer, std::vector<SampleGradientFactor<Scalar>>& factors) const = 0;

    /// Writes one value of parameter i while a ScopedPerturbation is alive (else throws Error).
    virtual MatrixType& perturbableValue(std::size_t i) = 0;

    /// Writes this probe step's cell of /probes/<name>/<table>, a dataset [S x cellShape...] of float64 with
    /// one row per probe step (S; the host writes /probes/<name>/step beside it). `table` may name a subgroup,
    /// "from/layers.2.dense/max": a table of its own with its own step column. `values` holds the cell in
    /// row-major order (the last index fastest), prod(cellShape) values ({} : one value, dataset [S]).
    /// requires: every table is first written at the probe's first step, with the same cellShape ever after;
    /// its name is not "step". A table not written at some step holds NaN there. Throws Error otherwise.
    virtual void write(const std::string& table, const std::vector<Index>& cellShape, const double* values) = 0;
    /// Sets a float64 attribute of the group /probes/<name>/<group> (e.g. "theory"; "" : /probes/<name> itself),
    /// created when missing.
    virtual void setAttribute(const std::string& group, const std::string& key, double value) = 0;
    /// Sets a string attribute of the group /probes/<name>/<group>.
    virtual void setAttribute(const std::string& group, const std::string& key, const std::string& value) = 0;

protected:
    template <typename>
    friend class ScopedPerturbation;
    /// Host side of ScopedPerturbation: saves every parameter's value / restores it exactly.
    virtual void beginPerturbation() = 0;
    virtual void endPerturbation() noexcept = 0;
};

/// Lets a probe change parameter values (finite differences, Hessian-vector products) and restores every
/// parameter bit for bit when it goes out of scope, however the scope is left. One at a time.
///
///     {
///         gradlab::ScopedPerturbation<Scalar> perturbation(context);
///         context.perturbableValue(0) += epsilon * direction;
///         ... context.lossGradient(...) ...
///     }  // every parameter as it was
template <typename Scalar>
class ScopedPerturbation {
public:
    explicit ScopedPerturbation(ProbeContext<Scalar>& context) : context_(context) { context_.beginPerturbation(); }
    ~ScopedPerturbation() { context_.endPerturbation(); }
    ScopedPerturbation(const ScopedPerturbation&) = delete;
    ScopedPerturbation& operator=(const ScopedPerturbation&) = delete;

private:
    ProbeContext<Scalar>& context_;
};

/// A measurement plugin. The host makes one per `probes:` entry and calls observe() at each scheduled step,
/// between training steps (after the update of step s-1, before the forward of step s), and, with
/// `at_end`, once after the last step.
template <typename Scalar>
class Probe {
public:
    virtual ~Probe() = default;

    /// requires: context valid for this call only. ensures: this step's tables written through context.write();
    /// nothing of training changed (the context sees to it). Throw Error to fail the run with a message.
    virtual void observe(ProbeContext<Scalar>& context) = 0;
};

}  // namespace gradlab
