/**
 * @file tinynn/tinynn.h
 * @brief Umbrella header: include this to use libtinynn.
 *
 *     #include <tinynn/tinynn.h>
 *
 * See docs/tutorial.md for a walk-through and docs/api.md for the reference.
 */
#ifndef TINYNN_TINYNN_H
#define TINYNN_TINYNN_H

#include "base.h"
#include "tensor.h"
#include "rng.h"
#include "module.h"
#include "layers.h"
#include "sequential.h"
#include "loss.h"
#include "optim.h"
#include "lr_scheduler.h"
#include "safetensors.h"
#include "data.h"
#include "image.h"

#endif
