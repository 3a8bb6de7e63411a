// Usage errors, did-you-mean and shell completion (conventions.h).
#include "conventions.h"

#include <cstdio>

#include "edgesplit/suggest.h"

namespace edgesplit::cli {
namespace {

std::vector<const CLI::App*> VisibleSubcommands(const CLI::App& root) {
  // A subcommand in the group "" is hidden from --help (internal ones).
  return root.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); });
}

std::vector<std::string> SubcommandNames(const CLI::App& root) {
  std::vector<std::string> names;
  for (const CLI::App* s : root.get_subcommands([](const CLI::App*) { return true; })) names.push_back(s->get_name());
  return names;
}

// Every spelling of every option: "--format", "-o", ...
std::vector<std::string> OptionNames(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_positional() && o->get_lnames().empty() && o->get_snames().empty()) continue;
    if (IsHiddenOption(o)) continue;  // an old spelling (AddHiddenAlias): still parsed, never suggested
    for (const std::string& l : o->get_lnames()) names.push_back("--" + l);
    for (const std::string& s : o->get_snames()) names.push_back("-" + s);
  }
  return names;
}

std::string UsageLine(const CLI::App& root, const CLI::App* sub) {
  const std::string name = sub ? root.get_name() + " " + sub->get_name() : root.get_name();
  std::string usage = CLI::Formatter().make_usage(sub ? sub : &root, name);
  while (!usage.empty() && (usage.front() == '\n' || usage.front() == ' ')) usage.erase(usage.begin());
  while (!usage.empty() && usage.back() == '\n') usage.pop_back();
  return usage + "\nRun '" + name + " --help' for more.";
}

int UsageError(const CLI::App& root, const CLI::App* sub, const std::string& message, const std::string& hint) {
  const bool stop = !hint.empty() && !message.empty() && message.back() != '.' && message.back() != '?';
  std::fprintf(stderr, "%s%s%s: error: %s%s%s\n%s\n", root.get_name().c_str(), sub ? " " : "",
               sub ? sub->get_name().c_str() : "", message.c_str(), stop ? "." : "", hint.c_str(),
               UsageLine(root, sub).c_str());
  return kUsageExit;
}

}  // namespace

int ParseCommandLine(CLI::App& app, int argc, char** argv) {
  // The first word that is not an option names the command: check it first, so
  // a typo gets "did you mean" instead of CLI11's "a subcommand is required".
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (!word.empty() && word[0] == '-') continue;
    const std::vector<std::string> names = SubcommandNames(app);
    if (std::find(names.begin(), names.end(), word) == names.end()) {
      std::vector<std::string> visible;
      for (const CLI::App* s : VisibleSubcommands(app)) visible.push_back(s->get_name());
      return UsageError(app, nullptr, "'" + word + "' is not an edgesplit command.", DidYouMean(word, visible));
    }
    break;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version: exit 0
  } catch (const CLI::ParseError& e) {
    const std::vector<CLI::App*> parsed = app.get_subcommands();
    const CLI::App* sub = parsed.empty() ? nullptr : parsed.front();
    std::string hint;
    if (const auto* extras = dynamic_cast<const CLI::ExtrasError*>(&e); extras && sub) {
      // Unknown options: the nearest spelling of this command's options.
      for (const std::string& word : sub->remaining()) {
        if (word.size() < 2 || word[0] != '-') continue;
        const std::string flag = word.substr(0, word.find('='));
        hint += DidYouMean(flag, OptionNames(*sub));
      }
    }
    std::string message = e.what();
    if (!message.empty() && message.back() == '\n') message.pop_back();
    return UsageError(app, sub, message, hint);
  }
  return -1;
}

namespace {

std::string Quote(const std::string& s, char q) {
  std::string out;
  for (char c : s) {
    if (c == q || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string OptionList(const CLI::App& sub) {
  std::string s;
  for (const std::string& n : OptionNames(sub)) s += (s.empty() ? "" : " ") + n;
  return s;
}

std::string Bash(const CLI::App& root) {
  std::string subs, cases;
  for (const CLI::App* s : VisibleSubcommands(root)) {
    subs += (subs.empty() ? "" : " ") + s->get_name();
    cases += "    " + s->get_name() + ") opts=\"" + OptionList(*s) + "\" ;;\n";
  }
  return "# bash completion for edgesplit: source <(edgesplit completion bash)\n"
         "_edgesplit() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} cmd= opts= i\n"
         "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
         "    case ${COMP_WORDS[i]} in -*) ;; *) cmd=${COMP_WORDS[i]}; break ;; esac\n"
         "  done\n"
         "  if [[ -z $cmd ]]; then\n"
         "    COMPREPLY=($(compgen -W \"" + subs + " --help --version\" -- \"$cur\"))\n"
         "    return\n"
         "  fi\n"
         "  case $cmd in\n" + cases +
         "  esac\n"
         "  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\")); fi\n"
         "}\n"
         "complete -o bashdefault -o default -F _edgesplit edgesplit\n";
}

std::string Zsh(const CLI::App& root) {
  std::string cmds, cases;
  for (const CLI::App* s : VisibleSubcommands(root)) {
    std::string desc = s->get_description();
    for (char& c : desc)
      if (c == ':') c = ' ';
    cmds += "    '" + s->get_name() + ":" + Quote(desc, '\'') + "'\n";
    cases += "    " + s->get_name() + ") opts=(" + OptionList(*s) + ") ;;\n";
  }
  return "#compdef edgesplit\n"
         "# zsh completion for edgesplit: source <(edgesplit completion zsh), or save as _edgesplit in $fpath\n"
         "_edgesplit() {\n"
         "  local -a cmds opts\n"
         "  cmds=(\n" + cmds + "  )\n"
         "  if (( CURRENT == 2 )); then _describe 'command' cmds; return; fi\n"
         "  case ${words[2]} in\n" + cases +
         "  esac\n"
         "  if [[ $PREFIX == -* ]]; then compadd -- $opts; else _files; fi\n"
         "}\n"
         "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _edgesplit \"$@\"; else compdef _edgesplit edgesplit; fi\n";
}

std::string Fish(const CLI::App& root) {
  std::string s = "# fish completion for edgesplit: edgesplit completion fish | source\n";
  for (const CLI::App* sub : VisibleSubcommands(root)) {
    s += "complete -c edgesplit -f -n __fish_use_subcommand -a " + sub->get_name() + " -d '" +
         Quote(sub->get_description(), '\'') + "'\n";
    for (const CLI::Option* o : sub->get_options()) {
      if (IsHiddenOption(o)) continue;
      std::string spec;
      for (const std::string& l : o->get_lnames()) spec += " -l " + l;
      for (const std::string& n : o->get_snames()) spec += " -s " + n;
      if (spec.empty()) continue;
      s += "complete -c edgesplit -n '__fish_seen_subcommand_from " + sub->get_name() + "'" + spec +
           (o->get_expected_min() > 0 ? " -r" : "") + " -d '" + Quote(o->get_description(), '\'') + "'\n";
    }
  }
  return s;
}

}  // namespace

Runner RegisterCompletion(CLI::App& app, const CLI::App& root) {
  auto shell = std::make_shared<std::string>();
  app.add_option("shell", *shell, "bash, zsh or fish")->required()->check(CLI::IsMember({"bash", "zsh", "fish"}));
  return [shell, &root]() -> Status {
    const std::string script = *shell == "bash" ? Bash(root) : *shell == "zsh" ? Zsh(root) : Fish(root);
    std::fwrite(script.data(), 1, script.size(), stdout);
    return Status::Ok();
  };
}

}  // namespace edgesplit::cli
