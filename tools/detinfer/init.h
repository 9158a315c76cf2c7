// `detinfer init`: writes a randomly initialised model (model/random_init.h) as a Hugging Face
// directory or a GGUF file, so that every reader and the engine can be exercised end to end
// without downloading a model.
#ifndef DETINFER_TOOLS_INIT_H_
#define DETINFER_TOOLS_INIT_H_

namespace CLI { class App; }

namespace detinfer::cli {

void RegisterInit(CLI::App& app);

}  // namespace detinfer::cli

#endif  // DETINFER_TOOLS_INIT_H_
