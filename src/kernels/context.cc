#include "kernels/context.h"
