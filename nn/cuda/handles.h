// Creation of the per-device CUDA handles (see nn/context.h). CUDA builds only.
#ifndef SAL360_NN_CUDA_HANDLES_H_
#define SAL360_NN_CUDA_HANDLES_H_

namespace sal360::nn::cuda {

// Creates a stream, a cuBLAS handle and a cuDNN handle bound to it.
void CreateHandles(void** stream, void** cublas, void** cudnn);
void SynchronizeStream(void* stream);

}  // namespace sal360::nn::cuda

#endif  // SAL360_NN_CUDA_HANDLES_H_
