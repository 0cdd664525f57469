// SPDX-License-Identifier: MIT
// Door of the render room: template checking, context building, rendering, atomic writes.
#pragma once

#include "core/render/atomic_write.hpp"
#include "core/render/command_runner.hpp"
#include "core/render/pipeline.hpp"
#include "core/render/renderer.hpp"
#include "core/render/template.hpp"
#include "core/render/template_check.hpp"
#include "core/render/value_safety.hpp"
