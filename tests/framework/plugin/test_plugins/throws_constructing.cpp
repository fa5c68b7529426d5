// A well-formed plugin library whose layer refuses to be constructed, and a well-behaved layer used to check
// that objects keep their library loaded after the host is gone.
#include "gradlab/sdk.hpp"

namespace {

template <typename Scalar>
class Refuses : public gradlab::Layer<Scalar> {
public:
    explicit Refuses(const gradlab::Options& options) {
        throw gradlab::Error("refusing on purpose (size " + std::to_string(options.integer("size")) + ")");
    }
    gradlab::Shape build(const gradlab::Shape& input) override { return input; }
    void forward(const gradlab::Matrix<Scalar>& x, gradlab::Matrix<Scalar>& y, gradlab::Phase) override { y = x; }
    void backward(const gradlab::Matrix<Scalar>&, const gradlab::Matrix<Scalar>&, const gradlab::Matrix<Scalar>& dy,
                  gradlab::Matrix<Scalar>* dx) override {
        if (dx) *dx = dy;
    }
};

/// y = 3 x.
template <typename Scalar>
class Triple : public gradlab::Layer<Scalar> {
public:
    gradlab::Shape build(const gradlab::Shape& input) override { return input; }
    void forward(const gradlab::Matrix<Scalar>& x, gradlab::Matrix<Scalar>& y, gradlab::Phase) override {
        y = Scalar(3) * x;
    }
    void backward(const gradlab::Matrix<Scalar>&, const gradlab::Matrix<Scalar>&, const gradlab::Matrix<Scalar>& dy,
                  gradlab::Matrix<Scalar>* dx) override {
        if (dx) *dx = Scalar(3) * dy;
    }
};

}  // namespace

GRADLAB_PLUGIN("throws_constructing", "2.3.4", registry) {
    registry.addLayer<Refuses>("refuses", "always throws from its constructor")
        .option(gradlab::OptionSpec::integer("size", 7, "reported in the error"));
    registry.addLayer<Triple>("triple", "y = 3x");
}
