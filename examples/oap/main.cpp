// oap: the command-line tool of the oap library.

#include <cstring>
#include <exception>
#include <iostream>
#include <string>

#include "cli_args.hpp"
#include "commands.hpp"

namespace {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int, char**, int);
};

constexpr Command kCommands[] = {
    {"ingest", "Read JSON Lines events into a history store and print a per-user summary",
     oap::cli::run_ingest},
    {"detect", "Score events (JSON Lines or CSV) with per-user deviation detectors",
     oap::cli::run_detect},
#ifdef OAP_CLI_WITH_LLM
    {"init-model", "Write a random-weight model in the Hugging Face layout",
     oap::cli::run_init_model},
    {"train-tokenizer", "Train a byte-level BPE tokenizer.json on text files",
     oap::cli::run_train_tokenizer},
    {"tokenize", "Encode text with a model's tokenizer (JSON ids)", oap::cli::run_tokenize},
    {"generate", "Continue a prompt with a model (greedy or sampled)", oap::cli::run_generate},
    {"score", "Per-token log-probabilities of a text under a model (JSON)", oap::cli::run_score},
    {"adapt", "Train a LoRA adapter on texts offline and write it in the PEFT layout",
     oap::cli::run_adapt},
    {"run", "Replay events through the whole pipeline (detect, decide, adapt) and report",
     oap::cli::run_run},
    {"inspect", "What the pipeline of a data directory holds about a user (JSON)",
     oap::cli::run_inspect},
    {"forget", "Remove everything the pipeline holds about a user", oap::cli::run_forget},
#endif
};

void print_usage(std::ostream& out) {
  out << "oap: outlier-aware personalization of LLMs.\n\n"
         "Usage: oap COMMAND [OPTIONS] [ARGS]\n\nCommands:\n";
  for (const auto& c : kCommands) {
    std::string name = c.name;
    name.resize(17, ' ');
    out << "  " << name << c.summary << "\n";
  }
  out << "\n'oap COMMAND --help' explains a command and its options.\n"
         "'oap --version' prints the version.\n";
}

int run_command(const Command& c, int argc, char** argv, int first) {
  try {
    return c.run(argc, argv, first);
  } catch (const oap::cli::UsageError& e) {
    std::cerr << "oap " << c.name << ": " << e.what() << "\n"
              << "Try 'oap " << c.name << " --help'.\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "oap " << c.name << ": error: " << e.what() << "\n";
    return 1;
  }
}

const Command* find_command(const char* name) {
  for (const auto& c : kCommands) {
    if (std::strcmp(name, c.name) == 0) return &c;
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "help") == 0) {
    const Command* c = find_command(argv[2]);
    if (c == nullptr) {
      std::cerr << "oap: unknown command '" << argv[2] << "'\n";
      return 2;
    }
    char help_flag[] = "--help";
    char* args[] = {argv[0], argv[2], help_flag};
    return run_command(*c, 3, args, 2);
  }
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    print_usage(argc < 2 ? std::cerr : std::cout);
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::cout << "oap 0.1.0\n";
    return 0;
  }
  if (const Command* c = find_command(argv[1])) return run_command(*c, argc, argv, 2);
  std::cerr << "oap: unknown command '" << argv[1] << "'\n\n";
  print_usage(std::cerr);
  return 2;
}
