#pragma once
// The oap tool's subcommands. Each takes the full argv and the index of its first argument,
// and returns the process exit status (0 ok, 1 failed on input or at run time, 2 usage).

namespace oap::cli {

int run_ingest(int argc, char** argv, int first);
int run_detect(int argc, char** argv, int first);
int run_init_model(int argc, char** argv, int first);
int run_train_tokenizer(int argc, char** argv, int first);
int run_tokenize(int argc, char** argv, int first);
int run_generate(int argc, char** argv, int first);
int run_score(int argc, char** argv, int first);
int run_adapt(int argc, char** argv, int first);
int run_run(int argc, char** argv, int first);
int run_inspect(int argc, char** argv, int first);
int run_forget(int argc, char** argv, int first);

}  // namespace oap::cli
