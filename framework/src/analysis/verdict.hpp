#pragma once
/// @file verdict.hpp
/// The one verdict on a trace's gradients: `gradlab inspect`, the study index (study.h5) and the sweep's
/// progress lines all take it from decideVerdict(), with its evidence.
///
/// Rules, the first that applies wins (verdictRules() prints them with these constants):
///  0. unknown   — nothing was traced (no /trace rows and no /events);
///  1. diverged  — status is "diverged", or /events holds a non_finite event;
///  2. exploding — /events holds an exploding event, or the global gradient norm /trace/grad_norm grows by more
///                 than explodingGrowth over the run (its last finite value over its first finite value);
///  3. vanishing — /events holds a vanishing event, or at the last traced step the first layer's signal gradient
///                 norm over the last layer's (/trace/signal_grad_norm) is below vanishingRatio, or a recurrent
///                 layer's ||dL/dh_1|| / ||dL/dh_T|| (/trace/timestep_grad_norm/<layer>) is below vanishingRatio;
///  4. stalled   — /events holds a stalled event;
///  5. saturated — /events holds a saturated event (dead or saturated units);
///  6. healthy   — none of the above.
/// A run that did not finish (status running, interrupted or failed) gets the verdict of what it traced, with
/// one line of evidence saying so.

#include <string>

namespace gradlab::analysis {

/// Growth of the global gradient norm over the run above which a run is "exploding".
inline constexpr double explodingGrowth = 1e3;

/// First-over-last gradient-norm ratio (per layer or per timestep) below which a run is "vanishing".
inline constexpr double vanishingRatio = 1e-4;

/// The diagnosis: what is wrong with the gradients, most severe last.
enum class Verdict { unknown, healthy, saturated, stalled, vanishing, exploding, diverged };

/// Every verdict, in rule order (the order of the file comment).
inline constexpr Verdict allVerdicts[] = {Verdict::unknown,   Verdict::diverged, Verdict::exploding, Verdict::vanishing,
                                          Verdict::stalled,   Verdict::saturated, Verdict::healthy};

/// "unknown", "healthy", "saturated", "stalled", "vanishing", "exploding" or "diverged".
std::string verdictName(Verdict verdict);

/// The rule of one verdict, one line with the thresholds above, e.g. "a vanishing event, or ...".
std::string verdictRule(Verdict verdict);

/// The rules as `gradlab inspect --help` prints them: a heading and one line per verdict, in rule order.
std::string verdictRules();

struct Diagnosis;

/// Sets diagnosis.verdict and diagnosis.evidence (one to three lines) from what diagnose() read.
void decideVerdict(Diagnosis& diagnosis);

}  // namespace gradlab::analysis
