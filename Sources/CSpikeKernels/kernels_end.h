/* Ends one instruction set's instantiation of kernels_body.h (see spike_kernels.c). */
#undef NM
#undef NM_TARGET
#undef V
#undef W
#undef NV
#undef V_LOAD
#undef V_STORE
#undef V_SET1
#undef V_ADD
#undef V_SUB
#undef V_MUL
#undef V_DIV
#undef V_ABS
#undef V_GT01
