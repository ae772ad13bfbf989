// The man page and the bash and zsh completions, written from the CLI11 App
// tree that also prints `--help`: one set of option definitions, so the three
// cannot drift from it (issue 17). The build runs these through the hidden
// `--generate-man` and `--generate-completion bash|zsh` options (not in
// --help, which is for people); `--list-options`
// gives tests/cli/manual_test.py the same tree to check them against.
#include "commands.hpp"

#include "pickleguard/policy.hpp"
#include "pickleguard/version.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pickleguard::cli {
namespace {

// A command as the manual shows it: its words after `pickleguard` and what it has.
struct command {
    std::vector<std::string> words;  // {} for the tool itself, {"policy", "infer"}
    CLI::App* app;
    std::vector<CLI::Option*> options;      // named options, as --help lists them
    std::vector<CLI::Option*> positionals;  // operands
    std::vector<CLI::App*> subcommands;
};

// CLI11 hides what is in the empty group, as `--help` does; so do we.
bool shown(const CLI::Option* o) { return !o->get_group().empty(); }
bool shown(const CLI::App* a) { return !a->get_group().empty(); }

void collect(CLI::App* app, std::vector<std::string> words, std::vector<command>& out) {
    command c{words, app, {}, {}, {}};
    for (CLI::Option* o : app->get_options()) {
        if (!shown(o)) continue;
        (o->nonpositional() ? c.options : c.positionals).push_back(o);
    }
    for (CLI::App* sub : app->get_subcommands([](CLI::App* a) { return shown(a); })) c.subcommands.push_back(sub);
    out.push_back(c);
    for (CLI::App* sub : c.subcommands) {
        std::vector<std::string> w = words;
        w.push_back(sub->get_name());
        collect(sub, w, out);
    }
}

std::vector<command> commands(CLI::App& app) {
    std::vector<command> out;
    collect(&app, {}, out);
    return out;
}

std::string joined(const std::vector<std::string>& words, std::string_view sep) {
    std::string s;
    for (const std::string& w : words) s += (s.empty() ? "" : std::string(sep)) + w;
    return s;
}

// Every name of an option, long ones first: --output, -o.
std::vector<std::string> names(const CLI::Option* o) {
    std::vector<std::string> n;
    for (const std::string& l : o->get_lnames()) n.push_back("--" + l);
    for (const std::string& s : o->get_snames()) n.push_back("-" + s);
    return n;
}

// A flag expects no value (CLI11 gives it expected(0)).
bool takes_value(const CLI::Option* o) { return o->get_items_expected_max() > 0; }
bool repeatable(const CLI::Option* o) {
    return o->get_multi_option_policy() == CLI::MultiOptionPolicy::TakeAll ||
           o->get_items_expected_max() >= CLI::detail::expected_max_vector_size;
}

// The values an IsMember check allows, from the "{a,b,c}" CLI11 adds to the type name.
std::vector<std::string> choices(const CLI::Option* o) {
    std::string t = o->get_type_name();
    std::size_t open = t.find('{'), close = t.find('}', open);
    std::vector<std::string> c;
    if (open == std::string::npos || close == std::string::npos) return c;
    std::string_view list = std::string_view(t).substr(open + 1, close - open - 1);
    while (!list.empty()) {
        std::size_t comma = list.find(',');
        c.emplace_back(list.substr(0, comma));
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return c;
}

// Values worth offering for an option whose value may as well be a file,
// so not choices: the shipped policies for every --policy (NAME|FILE). The
// completions offer them beside file names; the man page lists them.
struct suggested_values {
    std::string_view long_name;
    std::vector<std::string> (*values)();
};
constexpr suggested_values kSuggestions[] = {
    {"policy", &shipped_policy_names},
};

std::vector<std::string> suggestions(const CLI::Option* o) {
    for (const suggested_values& s : kSuggestions)
        if (o->check_lname(std::string(s.long_name))) return s.values();
    return {};
}

// What the value is called: the type name given (NAME=VALUE, GLOB), N for a
// number, else the option's own name (--output OUTPUT).
std::string metavar(const CLI::Option* o) {
    std::string t = o->get_type_name();
    t = t.substr(0, t.find(':'));
    if (t == "UINT" || t == "INT" || t == "FLOAT" || t == "NUMBER") return "N";
    if (!t.empty() && t != "TEXT") return t;
    std::string n = o->get_lnames().empty() ? o->get_name(true) : o->get_lnames().front();
    for (char& ch : n) ch = ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return n;
}

// ---- roff ----------------------------------------------------------------------

// Text as roff reads it: backslashes escaped, no line starting a request,
// and the few non-ASCII characters the help texts use as roff glyphs (groff
// warns of raw ones in some locales).
std::string roff(std::string_view text) {
    std::string s;
    bool line_start = true;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char ch = text[i];
        if (line_start && (ch == '.' || ch == '\'')) s += "\\&";
        line_start = ch == '\n';
        if (ch == '\\') s += "\\e";
        else if (text.substr(i, 3) == "\u2014") s += "\\(em", i += 2;
        else if (text.substr(i, 3) == "\u2026") s += "\\&...", i += 2;
        else s += ch;
    }
    return s;
}

std::string roff_option_tag(const CLI::Option* o) {
    std::string tag;
    for (const std::string& n : names(o)) {
        if (!tag.empty()) tag += ", ";
        std::string escaped;
        for (char ch : n) escaped += ch == '-' ? std::string("\\-") : std::string(1, ch);
        tag += "\\fB" + escaped + "\\fR";
    }
    if (takes_value(o)) tag += " \\fI" + roff(metavar(o)) + "\\fR";
    return tag;
}

std::string synopsis(const command& c) {
    std::string s = joined(c.words, " ");
    if (!c.options.empty()) s += " [options]";
    if (!c.subcommands.empty()) s += " command";
    for (const CLI::Option* p : c.positionals) {
        std::string n = p->get_name(true);
        if (p->get_items_expected_max() > 1) n += "...";
        s += p->get_required() ? " " + n : " [" + n + "]";
    }
    return s;
}

void roff_options(std::string& out, const command& c) {
    for (const CLI::Option* p : c.positionals)
        out += ".TP\n\\fI" + roff(p->get_name(true)) + "\\fR\n" + roff(p->get_description()) + "\n";
    for (const CLI::Option* o : c.options) {
        out += ".TP\n" + roff_option_tag(o) + "\n" + roff(o->get_description()) + "\n";
        std::vector<std::string> ch = choices(o);
        if (!ch.empty()) out += "One of: " + roff(joined(ch, ", ")) + ".\n";
        std::vector<std::string> sug = suggestions(o);
        if (!sug.empty()) out += "Shipped: " + roff(joined(sug, ", ")) + ".\n";
        if (repeatable(o)) out += "May be given more than once.\n";
    }
}

// ---- bash ----------------------------------------------------------------------

std::string bash_key(const command& c) { return joined(c.words, "_"); }

// ---- zsh -----------------------------------------------------------------------

std::string zsh_function(const command& c) {
    return "_pickleguard" + (c.words.empty() ? std::string() : "_" + joined(c.words, "_"));
}

// A description inside an _arguments spec in single quotes: the first clause
// only (the menu has one line), brackets escaped, quotes closed and reopened.
std::string zsh_description(std::string_view text) {
    for (std::string_view stop : {"; ", ". ", "\n"}) {
        std::size_t at = text.find(stop);
        if (at != std::string_view::npos) text = text.substr(0, at);
    }
    std::string s;
    for (char ch : text) {
        if (ch == '\'') s += "'\\''";
        else if (ch == '[' || ch == ']' || ch == '\\') s += std::string("\\") + ch;
        else s += ch;
    }
    return s;
}

std::string zsh_action(const CLI::Option* o) {
    std::vector<std::string> ch = choices(o);
    if (!ch.empty()) return "(" + joined(ch, " ") + ")";
    std::vector<std::string> sug = suggestions(o);
    if (!sug.empty()) return "{compadd -- " + joined(sug, " ") + "; _files}";
    return "_files";
}

std::string zsh_specs(const command& c) {
    std::string out;
    for (const CLI::Option* o : c.options) {
        std::string desc = zsh_description(o->get_description());
        std::string message = metavar(o);
        for (char& ch : message) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        for (const std::string& n : names(o)) {
            std::string spec = repeatable(o) ? "*" : "";
            spec += n;
            if (takes_value(o)) spec += n.size() > 2 ? "=" : "+";
            spec += "[" + desc + "]";
            if (takes_value(o)) spec += ":" + message + ":" + zsh_action(o);
            out += "    '" + spec + "' \\\n";
        }
    }
    for (const CLI::Option* p : c.positionals) {
        std::string n = p->get_name(true);
        out += p->get_items_expected_max() > 1 ? "    '*:" + n + ":_files' \\\n" : "    ':" + n + ":_files' \\\n";
    }
    return out;
}

}  // namespace

std::string man_page(CLI::App& app) {
    std::vector<command> all = commands(app);
    std::string description = app.get_description();
    std::string first = description.substr(0, description.find('\n'));
    std::string rest = description.size() > first.size() ? description.substr(first.size()) : "";
    std::size_t dash = first.find(" \u2014 ");
    std::string summary = dash == std::string::npos ? first : first.substr(dash + 5);

    std::string out;
    out += ".\\\" Generated by `pickleguard --generate-man` from the options `--help` prints; do not edit.\n";
    out += ".TH PICKLEGUARD 1 \"\" \"pickleguard " + std::string(version()) + "\" \"User Commands\"\n";
    out += ".nh\n.ad l\n";
    out += ".SH NAME\npickleguard \\- " + roff(summary) + "\n";
    out += ".SH SYNOPSIS\n";
    for (const command& c : all) {
        if (c.words.empty() || !c.subcommands.empty()) continue;
        out += ".B pickleguard\n" + roff(synopsis(c)) + "\n.br\n";
    }
    out += ".SH DESCRIPTION\n";
    out += "\\fBpickleguard\\fR reads Python pickles, alone or in PyTorch, numpy and joblib files and archives, "
           "with a symbolic decoder that imports and calls nothing, and judges every global, call and persistent "
           "id against an allow-list policy.\n";
    std::size_t at = 0;
    while (at < rest.size()) {
        std::size_t end = rest.find("\n\n", at);
        std::string para = rest.substr(at, end == std::string::npos ? std::string::npos : end - at);
        while (!para.empty() && para.front() == '\n') para.erase(0, 1);
        if (!para.empty()) out += ".PP\n" + roff(para) + "\n";
        if (end == std::string::npos) break;
        at = end + 2;
    }
    out += ".SH OPTIONS\n";
    roff_options(out, all.front());
    out += ".SH COMMANDS\n";
    for (const command& c : all) {
        if (c.words.empty()) continue;
        out += ".SS pickleguard " + roff(synopsis(c)) + "\n" + roff(c.app->get_description()) + "\n";
        roff_options(out, c);
    }
    out += ".SH FILES\n.TP\n\\fI/usr/share/pickleguard/policies/*.toml\\fR\n"
           "The shipped policies (\\fBpickleguard policy list\\fR), under the installation prefix.\n";
    out += ".SH SEE ALSO\n\\fBpython3\\fR(1); docs/commands.md, docs/policies.md and docs/report-format.md in the "
           "source.\n";
    return out;
}

std::string bash_completion(CLI::App& app) {
    std::vector<command> all = commands(app);
    std::string out =
        "# bash completion for pickleguard. Generated by `pickleguard --generate-completion bash` from the options\n"
        "# `--help` prints; do not edit.\n"
        "_pickleguard() {\n"
        "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
        "    local cmd=\"\" w i skip=0 opts subs\n"
        "    COMPREPLY=()\n"
        "    # The command so far: its subcommand words, stepping over option values.\n"
        "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
        "        w=\"${COMP_WORDS[i]}\"\n"
        "        if ((skip)); then skip=0; continue; fi\n"
        "        case \"$cmd/$w\" in\n";
    for (const command& c : all)
        for (const CLI::App* sub : c.subcommands) {
            std::vector<std::string> w = c.words;
            w.push_back(sub->get_name());
            out += "            \"" + bash_key(c) + "/" + sub->get_name() + "\") cmd=\"" + joined(w, "_") + "\" ;;\n";
        }
    std::string valued;
    for (const command& c : all)
        for (const CLI::Option* o : c.options)
            if (takes_value(o))
                for (const std::string& n : names(o)) valued += (valued.empty() ? "" : "|") + ("\"" + bash_key(c) + "/" + n + "\"");
    if (!valued.empty()) out += "            " + valued + ") skip=1 ;;\n";
    out += "        esac\n"
           "    done\n"
           "    case \"$cmd/$prev\" in\n";
    for (const command& c : all)
        for (const CLI::Option* o : c.options) {
            if (!takes_value(o)) continue;
            std::string pattern;
            for (const std::string& n : names(o)) pattern += (pattern.empty() ? "" : "|") + ("\"" + bash_key(c) + "/" + n + "\"");
            std::vector<std::string> ch = choices(o);
            std::vector<std::string> sug = suggestions(o);
            if (!ch.empty())
                out += "        " + pattern + ") COMPREPLY=($(compgen -W \"" + joined(ch, " ") +
                       "\" -- \"$cur\")); return 0 ;;\n";
            else if (!sug.empty())
                // The names, then file names, one a line (a name may have spaces).
                out += "        " + pattern + ") COMPREPLY=($(compgen -W \"" + joined(sug, " ") +
                       "\" -- \"$cur\")); local IFS=$'\\n'; COMPREPLY+=($(compgen -f -- \"$cur\"));"
                       " compopt -o filenames 2>/dev/null; return 0 ;;\n";
            else
                out += "        " + pattern + ") return 0 ;;  # a value: readline's default, file names\n";
        }
    out += "    esac\n"
           "    case \"$cmd\" in\n";
    for (const command& c : all) {
        std::string opts, subs;
        for (const CLI::Option* o : c.options)
            for (const std::string& n : names(o)) opts += (opts.empty() ? "" : " ") + n;
        for (const CLI::App* s : c.subcommands) subs += (subs.empty() ? "" : " ") + s->get_name();
        out += "        \"" + bash_key(c) + "\") opts=\"" + opts + "\" subs=\"" + subs + "\" ;;\n";
    }
    out += "    esac\n"
           "    if [[ $cur == -* ]]; then\n"
           "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
           "    elif [[ -n $subs ]]; then\n"
           "        COMPREPLY=($(compgen -W \"$subs\" -- \"$cur\"))\n"
           "    fi\n"
           "    return 0\n"
           "}\n"
           "complete -o bashdefault -o default -F _pickleguard pickleguard\n";
    return out;
}

std::string zsh_completion(CLI::App& app) {
    std::vector<command> all = commands(app);
    std::string out = "#compdef pickleguard\n"
                      "# zsh completion for pickleguard. Generated by `pickleguard --generate-completion zsh` from the\n"
                      "# options `--help` prints; do not edit.\n\n";
    for (const command& c : all) {
        out += zsh_function(c) + "() {\n";
        if (c.subcommands.empty()) {
            out += "    _arguments -s -S \\\n" + zsh_specs(c) + "    && return 0\n}\n\n";
            continue;
        }
        out += "    local curcontext=\"$curcontext\" state state_descr line\n"
               "    typeset -A opt_args\n"
               "    _arguments -C -s -S \\\n" +
               zsh_specs(c) +
               "    '1: :->command' \\\n"
               "    '*:: :->arguments' && return 0\n"
               "    case $state in\n"
               "    command)\n"
               "        local -a commands\n"
               "        commands=(\n";
        for (const CLI::App* s : c.subcommands)
            out += "            '" + s->get_name() + ":" + zsh_description(s->get_description()) + "'\n";
        out += "        )\n"
               "        _describe -t commands 'pickleguard command' commands ;;\n"
               "    arguments)\n"
               "        curcontext=\"${curcontext%:*:*}:" + zsh_function(c).substr(1) + "-$words[1]:\"\n"
               "        case $words[1] in\n";
        for (const CLI::App* s : c.subcommands) {
            std::vector<std::string> w = c.words;
            w.push_back(s->get_name());
            out += "        " + s->get_name() + ") " + zsh_function(command{w, nullptr, {}, {}, {}}) + " ;;\n";
        }
        out += "        esac ;;\n"
               "    esac\n"
               "}\n\n";
    }
    out += "_pickleguard \"$@\"\n";
    return out;
}

std::string option_list(CLI::App& app) {
    std::string out;
    for (const command& c : commands(app))
        for (const CLI::Option* o : c.options)
            for (const std::string& n : names(o))
                out += joined(c.words, " ") + "\t" + n + "\t" + (takes_value(o) ? "value" : "flag") + "\t" +
                       joined(choices(o), ",") + "\t" + joined(suggestions(o), ",") + "\n";
    return out;
}

// The hidden options that print the four. Looked at before CLI11 parses, as
// the first argument only: CLI11 would first insist on a subcommand.
std::optional<int> print_manual(CLI::App& app, int argc, char** argv) {
    if (argc < 2) return std::nullopt;
    std::string_view what = argv[1];
    std::string text;
    if (what == "--generate-man" && argc == 2) text = man_page(app);
    else if (what == "--list-options" && argc == 2) text = option_list(app);
    else if (what == "--generate-completion" && argc == 3 && std::string_view(argv[2]) == "bash") text = bash_completion(app);
    else if (what == "--generate-completion" && argc == 3 && std::string_view(argv[2]) == "zsh") text = zsh_completion(app);
    else if (what == "--generate-man" || what == "--list-options" || what == "--generate-completion") {
        std::fprintf(stderr, "pickleguard: usage: pickleguard --generate-man | --generate-completion bash|zsh | --list-options\n");
        return kExitError;
    } else {
        return std::nullopt;
    }
    return std::fwrite(text.data(), 1, text.size(), stdout) == text.size() && std::fflush(stdout) == 0 ? kExitOk
                                                                                                        : kExitError;
}

}  // namespace pickleguard::cli
