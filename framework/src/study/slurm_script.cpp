#include "study/slurm_script.hpp"

#include <algorithm>
#include <map>
#include <regex>
#include <sstream>

namespace gradlab::study {
namespace {

/// The sbatch options the scripts set themselves, and what to use instead of passing them again.
const std::map<std::string, std::string>& ownedDirectives() {
    static const std::map<std::string, std::string> owned{
        {"--array", "the array is --array=1-N with N from --slurm-shards (and %K from --slurm-max-running)"},
        {"-a", "the array is --array=1-N with N from --slurm-shards (and %K from --slurm-max-running)"},
        {"--cpus-per-task", "use --slurm-cpus-per-task"},
        {"-c", "use --slurm-cpus-per-task"},
        {"--time", "use --slurm-time"},
        {"-t", "use --slurm-time"},
        {"--mem", "use --slurm-mem"},
        {"--partition", "use --slurm-partition"},
        {"-p", "use --slurm-partition"},
        {"--account", "use --slurm-account"},
        {"-A", "use --slurm-account"},
        {"--output", "the scripts send each job's output to <study>/slurm/logs/"},
        {"-o", "the scripts send each job's output to <study>/slurm/logs/"},
        {"--error", "the scripts send each job's output to <study>/slurm/logs/"},
        {"-e", "the scripts send each job's output to <study>/slurm/logs/"},
        {"--open-mode", "the scripts append to the logs, so that a requeued task keeps its earlier output"},
        {"--job-name", "the jobs are named gradlab-<study folder name> and gradlab-<study folder name>-merge"},
        {"-J", "the jobs are named gradlab-<study folder name> and gradlab-<study folder name>-merge"},
        {"--chdir", "the jobs work in the study folder"},
        {"-D", "the jobs work in the study folder"},
        {"--dependency", "submit.sh makes the merge job depend on the array job"},
        {"-d", "submit.sh makes the merge job depend on the array job"},
        {"--wrap", "the scripts are the jobs"},
        {"--parsable", "submit.sh passes it to sbatch"},
    };
    return owned;
}

bool hasControlCharacter(const std::string& text) {
    return std::any_of(text.begin(), text.end(), [](char c) {
        const auto code = static_cast<unsigned char>(c);
        return code < 0x20 || code == 0x7f;
    });
}

/// The option name an extra directive starts with: "--qos" of "--qos=long", "-t" of "-t5".
std::string directiveName(const std::string& directive) {
    if (directive.rfind("--", 0) == 0) return directive.substr(0, directive.find_first_of("= \t"));
    return directive.substr(0, 2);
}

void requireAbsolutePath(const std::string& what, const std::string& path) {
    if (path.empty() || path.front() != '/')
        throw SlurmOptionError("--slurm: the " + what + " path must be absolute, got '" + path + "'");
    if (hasControlCharacter(path))
        throw SlurmOptionError("--slurm: the " + what + " path '" + path +
                               "' contains a newline or another control character, which a job script cannot hold");
}

/// Writes `# comment` lines, then `#SBATCH directive`: sbatch reads directives up to the first command, so
/// comment lines between them are safe in every Slurm version (unlike comments after a directive).
class DirectiveBlock {
public:
    explicit DirectiveBlock(std::ostringstream& text) : text_(text) {}
    void add(const std::string& comment, const std::string& directive) {
        text_ << "# " << comment << "\n#SBATCH " << directive << "\n";
    }

private:
    std::ostringstream& text_;
};

/// The shebang and the header comment every script starts with.
void writeHeader(std::ostringstream& text, const std::string& what, const SlurmStudy& study) {
    text << "#!/bin/bash\n"
         << "# " << what << "\n"
         << "# The study in " << study.folder << ": " << study.runs << " run" << (study.runs == 1 ? "" : "s") << " of "
         << study.config << ".\n"
         << "# Written by `gradlab sweep --slurm` (gradlab " << GRADLAB_VERSION
         << "); write it again rather than edit it. See docs/cluster.md.\n";
}

/// The variables every script sets: where gradlab, the config and the study are.
void writePaths(std::ostringstream& text, const SlurmStudy& study, bool withConfig) {
    text << "\n"
         << "# Absolute paths, on a file system that every node sees.\n"
         << "GRADLAB=" << shellQuote(study.gradlab) << "   # the gradlab binary\n";
    if (withConfig) text << "CONFIG=" << shellQuote(study.config) << "   # the study config\n";
    text << "STUDY=" << shellQuote(study.folder) << "   # the study folder: traces, logs and indexes\n";
}

/// HDF5's file locks, which fail on some shared file systems, as a best effort (the environment can override it).
void writeFileLocking(std::ostringstream& text) {
    text << "\n"
         << "# HDF5 locks the files it opens, which fails (\"unable to lock file\") on shared file systems without "
            "working\n"
         << "# locks (some NFS and Lustre mounts). Every file of a study has one writer at a time, so BEST_EFFORT "
            "(HDF5 >= 1.10.7)\n"
         << "# locks where locks work and goes on where they do not; HDF5_USE_FILE_LOCKING set for sbatch wins.\n"
         << "export HDF5_USE_FILE_LOCKING=\"${HDF5_USE_FILE_LOCKING:-BEST_EFFORT}\"\n";
}

/// The sweep's own options, passed on: ` --set 'k=v' --plugin-path '/p'`.
std::string passedOptions(const SlurmStudy& study) {
    std::string options;
    for (const auto& override : study.overrides) options += " --set " + shellQuote(override);
    for (const auto& folder : study.pluginPath) options += " --plugin-path " + shellQuote(folder);
    if (!study.keepLogs.empty()) options += " --keep-logs " + shellQuote(study.keepLogs);
    return options;
}

/// The directives both jobs share: partition, account, time limit, working folder, extra lines.
void addCommonDirectives(DirectiveBlock& block, const SlurmStudy& study, const SlurmOptions& options) {
    if (!options.time.empty())
        block.add("Time limit of each job: Slurm ends it after this (SIGTERM, then SIGKILL).",
                  "--time=" + options.time);
    if (!options.partition.empty()) block.add("The partition (queue) to run in.", "--partition=" + options.partition);
    if (!options.account.empty()) block.add("The account to charge.", "--account=" + options.account);
    block.add("Work in the study folder.", "--chdir=" + sbatchQuote(study.folder));
    for (const auto& directive : options.extraDirectives) block.add("Given with --slurm-sbatch.", directive);
}

}  // namespace

std::int64_t defaultSlurmShards(std::int64_t runs, std::int64_t cpusPerTask) {
    const std::int64_t perTask = std::max<std::int64_t>(cpusPerTask, 1);
    const std::int64_t waves = (std::max<std::int64_t>(runs, 1) + perTask - 1) / perTask;
    return std::clamp<std::int64_t>(waves, 1, maxDefaultSlurmShards);
}

void validateSlurmOptions(const SlurmOptions& options) {
    if (options.shards < 0)
        throw SlurmOptionError("--slurm-shards expects N >= 1 array tasks, got " + std::to_string(options.shards));
    if (options.cpusPerTask < 1)
        throw SlurmOptionError("--slurm-cpus-per-task expects N >= 1 cores, got " +
                               std::to_string(options.cpusPerTask));
    if (options.maxRunning < 0)
        throw SlurmOptionError("--slurm-max-running expects K >= 1 tasks at once, got " +
                               std::to_string(options.maxRunning));
    static const std::regex time(
        "^([0-9]+|[0-9]+:[0-9]+|[0-9]+:[0-9]+:[0-9]+|[0-9]+-[0-9]+|[0-9]+-[0-9]+:[0-9]+|[0-9]+-[0-9]+:[0-9]+:[0-9]+|"
        "UNLIMITED|INFINITE)$");
    if (!options.time.empty() && !std::regex_match(options.time, time))
        throw SlurmOptionError(
            "--slurm-time expects a Slurm time limit (MINUTES, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS), got '" +
            options.time + "'");
    static const std::regex memory("^[0-9]+[KMGTkmgt]?$");
    if (!options.memory.empty() && !std::regex_match(options.memory, memory))
        throw SlurmOptionError(
            "--slurm-mem expects memory per task as a number with an optional unit K, M, G or T (megabytes "
            "without one), e.g. 8G or 500M, got '" +
            options.memory + "'");
    static const std::regex name("^[A-Za-z0-9_.,:+@=-]+$");
    if (!options.partition.empty() && !std::regex_match(options.partition, name))
        throw SlurmOptionError(
            "--slurm-partition expects a partition name (letters, digits and _ . , : + @ = -; no spaces or quotes), "
            "got '" +
            options.partition + "'");
    if (!options.account.empty() && !std::regex_match(options.account, name))
        throw SlurmOptionError(
            "--slurm-account expects an account name (letters, digits and _ . , : + @ = -; no spaces or quotes), "
            "got '" +
            options.account + "'");
    for (const auto& directive : options.extraDirectives) {
        if (directive.size() < 2 || directive.front() != '-' || hasControlCharacter(directive))
            throw SlurmOptionError(
                "--slurm-sbatch expects one sbatch option as it would follow '#SBATCH ' (e.g. --qos=long or "
                "--constraint=haswell), on one line, got '" +
                directive + "'");
        const auto owned = ownedDirectives().find(directiveName(directive));
        if (owned != ownedDirectives().end())
            throw SlurmOptionError("--slurm-sbatch '" + directive + "': the scripts set " + owned->first +
                                   " themselves; " + owned->second);
    }
}

SlurmScripts makeSlurmScripts(const SlurmStudy& study, const SlurmOptions& options) {
    validateSlurmOptions(options);
    requireAbsolutePath("gradlab binary", study.gradlab);
    requireAbsolutePath("study config", study.config);
    requireAbsolutePath("study folder", study.folder);
    for (const auto& folder : study.pluginPath) requireAbsolutePath("--plugin-path", folder);
    for (const auto& override : study.overrides)
        if (hasControlCharacter(override))
            throw SlurmOptionError("--slurm: the override '" + override +
                                   "' contains a newline or another control "
                                   "character, which a job script cannot hold");
    if (study.folder.find_first_of("%\\") != std::string::npos)
        throw SlurmOptionError("--slurm: the study folder '" + study.folder +
                               "' contains '%' or '\\', which Slurm reads as file name patterns in the jobs' log "
                               "paths; choose another folder with -o");
    if (study.runs < 1) throw SlurmOptionError("--slurm: the study has no runs");
    const std::int64_t shards =
        options.shards > 0 ? options.shards : defaultSlurmShards(study.runs, options.cpusPerTask);
    if (shards > study.runs)
        throw SlurmOptionError("--slurm-shards expects at most the study's " + std::to_string(study.runs) + " run" +
                               (study.runs == 1 ? "" : "s") + " (one shard or more per task), got " +
                               std::to_string(shards));
    const std::string jobName = "gradlab-" + study.name;
    const std::string logs = study.folder + "/slurm/logs";
    const std::int64_t fewest = study.runs / shards, most = (study.runs + shards - 1) / shards;
    const std::string perShard =
        (fewest == most ? std::to_string(most) : std::to_string(fewest) + " or " + std::to_string(most)) + " run" +
        (most == 1 ? "" : "s") + " each";
    SlurmScripts scripts;

    {
        std::ostringstream text;
        writeHeader(text, "Slurm array job: task i runs shard i of " + std::to_string(shards) + " of the study.",
                    study);
        text << "# Submit it with submit.sh beside it, which also queues the merge job; or alone: sbatch "
             << shellQuote(study.folder + "/slurm/array.sbatch") << "\n"
             << "# sbatch reads the #SBATCH lines up to the first command; options given to sbatch override them.\n";
        DirectiveBlock block(text);
        block.add("The job's name in squeue.", "--job-name=" + sbatchQuote(jobName));
        std::string array = "--array=1-" + std::to_string(shards);
        if (options.maxRunning > 0) array += "%" + std::to_string(options.maxRunning);
        block.add(
            "One task per shard: SLURM_ARRAY_TASK_ID is the shard number, 1.." + std::to_string(shards) +
                (options.maxRunning > 0 ? " (at most " + std::to_string(options.maxRunning) + " tasks at once)." : "."),
            array);
        block.add("Cores per task: the shard runs this many runs at once (-j below).",
                  "--cpus-per-task=" + std::to_string(options.cpusPerTask));
        if (!options.memory.empty()) block.add("Memory per task (all its runs together).", "--mem=" + options.memory);
        addCommonDirectives(block, study, options);
        block.add("Each task's stdout and stderr: %A is the array job's id, %a the task's (shard) number.",
                  "--output=" + sbatchQuote(logs + "/array-%A_%a.out"));
        block.add("A requeued task appends to its log instead of overwriting it.", "--open-mode=append");
        text << "\nset -euo pipefail   # stop at the first failing command or unset variable\n";
        writePaths(text, study, true);
        text << "SHARDS=" << shards
             << "   # the study's split, fixed: resubmitting some tasks (--array=3) must not change it\n";
        writeFileLocking(text);
        text << "\n"
             << "# This task's shard; a task outside 1..SHARDS (e.g. from --array=0-3) is refused, not run wrong.\n"
             << "shard=\"${SLURM_ARRAY_TASK_ID:?is not set: submit this script with sbatch (see submit.sh)}\"\n"
             << "if (( shard < 1 || shard > SHARDS )); then\n"
             << "    echo \"array.sbatch: task $shard is not a shard of 1..$SHARDS: submit with --array=1-$SHARDS or a "
                "part of it\" >&2\n"
             << "    exit 2\n"
             << "fi\n"
             << "echo \"gradlab shard $shard/$SHARDS of $STUDY: job ${SLURM_ARRAY_JOB_ID:-?}_$shard on $(hostname), "
                "${SLURM_CPUS_PER_TASK:-1} cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)\"\n"
             << "\n"
             << "# Run the shard: the runs whose index % SHARDS == shard - 1 (" << perShard
             << "), SLURM_CPUS_PER_TASK at a time,\n"
             << "# into STUDY/runs, STUDY/logs and the shard's index STUDY/study.shard-<shard>-of-" << shards
             << ".h5. Runs that finished in an\n"
             << "# earlier attempt are skipped; missing, killed and failed ones are redone. Exit code 0 when every "
                "run of the\n"
             << "# shard finished, 1 when some failed, 130 when Slurm stopped the task (scancel, time limit, "
                "preemption).\n"
             << "exec \"$GRADLAB\" sweep \"$CONFIG\" -o \"$STUDY\" --shard \"$shard/$SHARDS\" -j "
                "\"${SLURM_CPUS_PER_TASK:-1}\""
             << passedOptions(study) << "\n";
        scripts.array = text.str();
    }

    {
        std::ostringstream text;
        writeHeader(text, "Slurm merge job: merges the shard indexes of the study into study.h5.", study);
        text << "# submit.sh queues it with --dependency=afterany:<array job>: it starts once every task ended, "
                "failed ones too,\n"
             << "# so that the index shows what failed.\n";
        DirectiveBlock block(text);
        block.add("The job's name in squeue.", "--job-name=" + sbatchQuote(jobName + "-merge"));
        block.add("Merging reads indexes and traces: one core is enough.", "--cpus-per-task=1");
        addCommonDirectives(block, study, options);
        block.add("The merge's output: %j is its job id.", "--output=" + sbatchQuote(logs + "/merge-%j.out"));
        text << "\nset -euo pipefail   # stop at the first failing command or unset variable\n";
        writePaths(text, study, false);
        writeFileLocking(text);
        text << "\n"
             << "# Merge STUDY/study.shard-*-of-" << shards
             << ".h5 into STUDY/study.h5, re-reading the traces. Exit code 0 when every run of the\n"
             << "# study finished, 1 when some failed or are still pending (a task was killed): run submit.sh "
                "again to redo them.\n"
             << "exec \"$GRADLAB\" sweep --merge \"$STUDY\"\n";
        scripts.merge = text.str();
    }

    {
        std::ostringstream text;
        writeHeader(text, "Submits the study to Slurm: the array job, then the merge job after it.", study);
        text << "# Run it again after failures, time-outs or preemption: finished runs are skipped, the others "
                "redone.\n"
             << "# Its arguments go to the array's sbatch: `submit.sh --array=3` resubmits shard 3 only.\n"
             << "set -euo pipefail   # stop at the first failing command or unset variable\n";
        writePaths(text, study, true);
        text << "SLURM_DIR=\"$STUDY/slurm\"   # these scripts; logs in $SLURM_DIR/logs\n"
             << "\n"
             << "# Check the config here first (cheap): an error now beats " << shards << " failed tasks later.\n"
             << "\"$GRADLAB\" sweep \"$CONFIG\" -o \"$STUDY\" --plan" << passedOptions(study) << " > /dev/null\n"
             << "\n"
             << "# Two tasks of one shard at once would write the same runs: while jobs of this study (their work "
                "folder is\n"
             << "# STUDY) are queued or running, refuse. GRADLAB_SLURM_FORCE=1 submits anyway, e.g. --array=3 for a "
                "shard that is not.\n"
             << "if [ \"${GRADLAB_SLURM_FORCE:-0}\" != 1 ]; then\n"
             << "    queued=$(squeue -h -u \"$(id -un)\" -o '%i|%Z')\n"
             << "    active=\"\"\n"
             << "    while IFS= read -r line; do\n"
             << "        if [ \"${line#*|}\" = \"$STUDY\" ]; then active=\"$active ${line%%|*}\"; fi\n"
             << "    done <<< \"$queued\"\n"
             << "    if [ -n \"$active\" ]; then\n"
             << "        echo \"submit.sh: jobs of this study are still queued or running:$active; wait until they "
                "end (or scancel them), then submit again\" >&2\n"
             << "        exit 1\n"
             << "    fi\n"
             << "fi\n"
             << "\n"
             << "# Slurm writes the logs but does not create their folder.\n"
             << "mkdir -p \"$SLURM_DIR/logs\"\n"
             << "\n"
             << "# Queue the array; --parsable prints the job id (\"id\" or \"id;cluster\").\n"
             << "array_job=$(sbatch --parsable \"$@\" \"$SLURM_DIR/array.sbatch\")\n"
             << "array_job=\"${array_job%%;*}\"\n"
             << "\n"
             << "# Queue the merge, to start when every task of the array ended (afterany: failed or cancelled ones "
                "too).\n"
             << "if ! merge_job=$(sbatch --parsable --dependency=\"afterany:$array_job\" \"$SLURM_DIR/merge.sbatch\"); "
                "then\n"
             << "    echo \"submit.sh: array job $array_job is queued, but its merge job could not be: once it ended, "
                "run: $GRADLAB sweep --merge $STUDY\" >&2\n"
             << "    exit 1\n"
             << "fi\n"
             << "merge_job=\"${merge_job%%;*}\"\n"
             << "\n"
             << "echo \"array job $array_job: " << shards << " task" << (shards == 1 ? "" : "s") << " (shards 1-"
             << shards << " of " << study.runs << " runs), logs $SLURM_DIR/logs/array-${array_job}_<shard>.out\"\n"
             << "echo \"merge job $merge_job: after the array job ends, writes $STUDY/study.h5, log "
                "$SLURM_DIR/logs/merge-$merge_job.out\"\n"
             << "echo \"watch them with: squeue -j $array_job,$merge_job\"\n";
        scripts.submit = text.str();
    }
    return scripts;
}

std::string shellQuote(const std::string& text) {
    static const std::regex safe("^[A-Za-z0-9_./=:,+@%^-]+$");
    if (std::regex_match(text, safe)) return text;
    std::string quoted = "'";
    for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

std::string sbatchQuote(const std::string& text) {
    static const std::regex safe("^[A-Za-z0-9_./=:,+@%^-]+$");
    if (std::regex_match(text, safe)) return text;
    std::string quoted = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') quoted += '\\';
        quoted += c;
    }
    return quoted + "\"";
}

}  // namespace gradlab::study
