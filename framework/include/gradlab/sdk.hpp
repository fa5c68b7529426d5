#pragma once
/// @file sdk.hpp
/// The whole plugin SDK in one include: a plugin source needs nothing else.

#include "gradlab/activation.hpp"
#include "gradlab/elementwise.hpp"
#include "gradlab/error.hpp"
#include "gradlab/initializer.hpp"
#include "gradlab/layer.hpp"
#include "gradlab/module.hpp"
#include "gradlab/optimizer.hpp"
#include "gradlab/options.hpp"
#include "gradlab/plugin.hpp"
#include "gradlab/probe.hpp"
#include "gradlab/random.hpp"
#include "gradlab/recurrent.hpp"
#include "gradlab/registry.hpp"
#include "gradlab/regularizer.hpp"
#include "gradlab/state.hpp"
#include "gradlab/tensor.hpp"
