#include "cli/sweep.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/program_options.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "cli/help.hpp"
#include "gradlab/error.hpp"
#include "plugin/plugin_host.hpp"
#include "study/slurm_script.hpp"
#include "study/study_index.hpp"
#include "study/sweep_plan.hpp"
#include "study/trace_check.hpp"
#include "util/file_lock.hpp"
#include "util/safe_files.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace gradlab::cli {
namespace {

using Clock = std::chrono::steady_clock;

/// How often the live progress line is redrawn while no run finishes.
constexpr int refreshMilliseconds = 250;

/// The signal that asked the sweep to stop (SIGINT or SIGTERM), 0 while none did.
volatile std::sig_atomic_t interruptSignal = 0;

/// The write end of the self-pipe that wakes the scheduler when a signal arrives; -1 when none.
volatile int wakeupWriteEnd = -1;

void onSignal(int signal) {
    if (signal != SIGCHLD) interruptSignal = signal;
    const int savedErrno = errno;
    const char byte = 0;
    if (wakeupWriteEnd >= 0 && ::write(wakeupWriteEnd, &byte, 1) < 0) {
        // The pipe is full: the scheduler is woken already.
    }
    errno = savedErrno;
}

/// While alive: SIGCHLD (a run ended), SIGINT and SIGTERM (stop the sweep, keep what finished) wake wait()
/// through a self-pipe, so that the scheduler neither polls nor misses a signal that arrives just before it
/// sleeps.
class SignalWakeup {
public:
    SignalWakeup() {
        interruptSignal = 0;
        if (::pipe2(pipe_, O_CLOEXEC | O_NONBLOCK) != 0)
            throw Error(std::string("cannot create a pipe: ") + std::strerror(errno));
        wakeupWriteEnd = pipe_[1];
        struct sigaction action {};
        action.sa_handler = &onSignal;
        action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
        sigemptyset(&action.sa_mask);
        sigaction(SIGCHLD, &action, &previousChild_);
        sigaction(SIGINT, &action, &previousInterrupt_);
        sigaction(SIGTERM, &action, &previousTerminate_);
    }
    ~SignalWakeup() {
        sigaction(SIGCHLD, &previousChild_, nullptr);
        sigaction(SIGINT, &previousInterrupt_, nullptr);
        sigaction(SIGTERM, &previousTerminate_, nullptr);
        wakeupWriteEnd = -1;
        ::close(pipe_[0]);
        ::close(pipe_[1]);
    }
    SignalWakeup(const SignalWakeup&) = delete;
    SignalWakeup& operator=(const SignalWakeup&) = delete;

    /// Sleeps until a signal arrived (since the last wait) or `milliseconds` passed.
    void wait(int milliseconds) {
        pollfd readEnd{pipe_[0], POLLIN, 0};
        ::poll(&readEnd, 1, milliseconds);
        char buffer[64];
        while (::read(pipe_[0], buffer, sizeof buffer) > 0) {
        }
    }

private:
    int pipe_[2] = {-1, -1};
    struct sigaction previousChild_ {};
    struct sigaction previousInterrupt_ {};
    struct sigaction previousTerminate_ {};
};

/// A slice of a study: the runs whose index % count == number - 1. count 0 selects every run.
struct Shard {
    std::int64_t number = 0;  ///< 1-based
    std::int64_t count = 0;

    bool selects(std::int64_t index) const { return count == 0 || index % count == number - 1; }
    std::string label() const { return std::to_string(number) + "/" + std::to_string(count); }
};

Shard parseShard(const std::string& text) {
    static const std::regex pattern("^([0-9]{1,9})/([0-9]{1,9})$");
    std::smatch match;
    Shard shard;
    if (std::regex_match(text, match, pattern)) {
        shard.number = std::stoll(match[1]);
        shard.count = std::stoll(match[2]);
    }
    if (shard.count < 1 || shard.number < 1 || shard.number > shard.count)
        throw po::error(
            "--shard expects i/N with 1 <= i <= N (shards are numbered from 1, like SLURM_ARRAY_TASK_ID "
            "in an array job submitted with --array=1-N), got '" +
            text + "'");
    return shard;
}

std::string formatDuration(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) return "?";
    const long long total = std::llround(seconds);
    std::ostringstream text;
    if (total < 60)
        text << std::fixed << std::setprecision(seconds < 10 ? 1 : 0) << seconds << " s";
    else if (total < 3600)
        text << total / 60 << "m" << std::setw(2) << std::setfill('0') << total % 60 << "s";
    else
        text << total / 3600 << "h" << std::setw(2) << std::setfill('0') << (total % 3600) / 60 << "m";
    return text.str();
}

std::string formatNumber(double value) {
    std::ostringstream text;
    text << std::setprecision(4) << value;
    return text.str();
}

std::string readText(const fs::path& path) {
    std::ifstream stream(path);
    if (!stream) return {};
    std::stringstream text;
    text << stream.rdbuf();
    return text.str();
}

/// Writes a file of the study atomically, replacing (never following) a symbolic link planted at its name.
void writeText(const fs::path& path, const std::string& text) { files::writeFileAtomically(path.string(), text, "file"); }

/// The last non-empty line of a run's log, where `gradlab run` puts its error; "" when there is none.
std::string lastLogLine(const fs::path& path) {
    std::istringstream text(readText(path));
    std::string line, last;
    while (std::getline(text, line))
        if (line.find_first_not_of(" \t\r") != std::string::npos && line.rfind("# ", 0) != 0) last = line;
    constexpr std::size_t longest = 400;
    if (last.size() > longest) last = last.substr(0, longest) + "...";
    return last;
}

/// Copies a trace's outcome into a row; a trace that did not reach its end makes the row "failed".
void applyOutcome(study::StudyRow& row, const study::RunOutcome& outcome) {
    row.status = study::isFinishedStatus(outcome.status) ? outcome.status : "failed";
    row.message = outcome.message;
    row.finalLoss = outcome.finalLoss;
    row.divergedAt = outcome.divergedAt;
    row.verdict = outcome.verdict;
    row.metrics = outcome.metrics;
}

/// What a row says when it is written down for a run not done yet.
void resetRow(study::StudyRow& row) {
    row.status = "pending";
    row.message.clear();
    row.finalLoss = std::numeric_limits<double>::quiet_NaN();
    row.divergedAt = -1;
    row.verdict = "unknown";
    row.metrics = analysis::RunMetrics();
}

/// A study folder: where configs, traces, logs and the index go.
struct StudyFolder {
    fs::path root;

    fs::path config(const std::string& name) const { return root / "configs" / (name + ".yaml"); }
    fs::path trace(const std::string& name) const { return root / "runs" / (name + ".h5"); }
    fs::path log(const std::string& name) const { return root / "logs" / (name + ".log"); }
    fs::path index(const Shard& shard) const {
        if (shard.count == 0) return root / "study.h5";
        return root / ("study.shard-" + std::to_string(shard.number) + "-of-" + std::to_string(shard.count) + ".h5");
    }
};

/// One run to execute: its row in the index and its files.
struct Job {
    std::size_t row = 0;
    std::string config;  ///< resolved YAML text, written to configPath before the run starts
    fs::path configPath, tracePath, logPath;
    bool resume = false;  ///< continue the killed or interrupted run (gradlab run --resume)
};

/// A child process running a job.
struct Child {
    pid_t pid = -1;
    std::size_t job = 0;
    Clock::time_point started;
};

/// Starts `gradlab run CONFIG -o TRACE -q [--resume]` with stdout and stderr going to the job's log.
pid_t launch(const std::string& program, const Job& job, const std::vector<std::string>& pluginPath) {
    std::vector<std::string> arguments{program, "run", job.configPath.string(), "-o", job.tracePath.string(), "-q"};
    if (job.resume) arguments.push_back("--resume");
    for (const auto& folder : pluginPath) {
        arguments.push_back("--plugin-path");
        arguments.push_back(folder);
    }
    std::string commandLine = "#";
    for (const auto& argument : arguments) commandLine += " " + argument;
    commandLine += "\n";

    // A resumed run appends to its log, which keeps what the killed run printed. Never through a symbolic link.
    const int log = files::openForWriting(job.logPath.string(), job.resume, "log");
    if (::write(log, commandLine.data(), commandLine.size()) < 0) {
        // The command line is a convenience; the run's own output matters more.
    }
    std::vector<char*> argv;
    for (auto& argument : arguments) argv.push_back(argument.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(log);
        throw Error(std::string("cannot start a run: fork failed: ") + std::strerror(errno));
    }
    if (pid == 0) {
        // Child: only async-signal-safe calls until execv. It dies with the sweep (a SIGKILLed sweep must not leave
        // runs behind that a rerun would resume beside them); if the sweep died before prctl, it ends now.
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(126);
        const int input = ::open("/dev/null", O_RDONLY);
        if (input >= 0) ::dup2(input, STDIN_FILENO);
        ::dup2(log, STDOUT_FILENO);
        ::dup2(log, STDERR_FILENO);
        ::execv(program.c_str(), argv.data());
        const char message[] = "gradlab sweep: cannot execute the gradlab binary\n";
        if (::write(STDERR_FILENO, message, sizeof message - 1) < 0) {
        }
        ::_exit(127);
    }
    ::close(log);
    return pid;
}

/// Progress of a sweep: a live line on a terminal, else one line per finished run.
class Progress {
public:
    Progress(bool live, std::size_t total) : live_(live), total_(total), start_(Clock::now()) {}

    /// Redraws the live line (at most a few times a second).
    void refresh(std::size_t done, std::size_t failed, std::size_t running, bool force = false) {
        if (!live_) return;
        const auto now = Clock::now();
        if (!force && now - lastDrawn_ < std::chrono::milliseconds(250)) return;
        lastDrawn_ = now;
        const double elapsed = std::chrono::duration<double>(now - start_).count();
        std::cerr << "\r\033[Ksweep: " << done << "/" << total_ << " done";
        if (failed > 0) std::cerr << ", " << failed << " failed";
        std::cerr << ", " << running << " running, " << formatDuration(elapsed) << " elapsed";
        if (done > 0 && done < total_)
            std::cerr << ", ETA "
                      << formatDuration(elapsed / static_cast<double>(done) * static_cast<double>(total_ - done));
        std::cerr << std::flush;
    }

    /// Reports one finished run: a plain line, or (live) a permanent line for runs that did not complete.
    void finished(std::size_t done, const study::StudyRow& row, double seconds, const std::string& logPath) {
        std::ostringstream line;
        line << "[" << done << "/" << total_ << "] " << row.name << ": " << row.status;
        if (row.status == "failed")
            line << ": " << row.message << " (log: " << logPath << ")";
        else if (row.status == "diverged")
            line << " at step " << row.divergedAt;
        else if (row.status == "stopped")
            line << ": " << row.message;
        if (row.status != "failed") {
            line << ", " << row.verdict << ", final train loss " << formatNumber(row.finalLoss);
            const std::string metrics = analysis::formatMetrics(row.metrics);
            if (!metrics.empty()) line << ", " << metrics;
        }
        line << " (" << formatDuration(seconds) << ")";
        if (!live_) {
            std::cout << line.str() << "\n" << std::flush;
        } else if (row.status != "completed") {
            std::cerr << "\r\033[K" << line.str() << "\n";
            lastDrawn_ = {};
        }
    }

    /// Clears the live line.
    void close() {
        if (live_) std::cerr << "\r\033[K" << std::flush;
    }

private:
    bool live_;
    std::size_t total_;
    Clock::time_point start_;
    Clock::time_point lastDrawn_{};
};

/// Writes the index, warning instead of throwing: a failed index write must not orphan running children.
/// Returns whether it was written; the error is warned about once.
bool writeIndexSafely(const fs::path& path, study::StudyIndex& index, bool& warned) {
    index.updatedAt = study::utcTimestamp();
    try {
        study::writeStudyIndex(path.string(), index);
        return true;
    } catch (const std::exception& error) {
        if (!warned) std::cerr << "gradlab sweep: warning: " << error.what() << "\n";
        warned = true;
        return false;
    }
}

/// Counts of row statuses over some rows, and a summary sentence.
struct Tally {
    std::map<std::string, std::size_t> statuses;

    void add(const std::string& status) { ++statuses[status]; }
    std::size_t of(const std::string& status) const {
        const auto found = statuses.find(status);
        return found == statuses.end() ? 0 : found->second;
    }
    std::string text() const {
        std::string result;
        for (const char* status : {"completed", "diverged", "stopped", "failed", "pending"})
            if (of(status) > 0 || std::string(status) == "completed")
                result += (result.empty() ? "" : ", ") + std::to_string(of(status)) + " " + status;
        return result;
    }
};

int mergeShards(const std::string& folderText) {
    const StudyFolder folder{fs::path(folderText)};
    if (!fs::is_directory(folder.root)) throw Error("cannot merge '" + folderText + "': no such study folder");
    const std::string mergedPath = folder.index(Shard{}).string();
    files::requireRegularOrMissing(mergedPath, "study index");
    const files::FileLock studyLock(files::lockPathFor(mergedPath), "the study index '" + mergedPath + "'");
    files::removeStaleTemporaries(mergedPath);
    static const std::regex pattern("^study\\.shard-([0-9]+)-of-([0-9]+)\\.h5$");
    std::map<std::int64_t, std::pair<fs::path, study::StudyIndex>> shards;
    std::int64_t count = 0;
    fs::path first;
    for (const auto& entry : fs::directory_iterator(folder.root)) {
        const std::string name = entry.path().filename().string();
        std::smatch match;
        if (!std::regex_match(name, match, pattern)) continue;
        const std::int64_t number = std::stoll(match[1]), shardCount = std::stoll(match[2]);
        study::StudyIndex index = study::readStudyIndex(entry.path().string());
        if (index.shardIndex != number || index.shardCount != shardCount)
            throw Error("'" + entry.path().string() + "' says it is shard " + std::to_string(index.shardIndex) + "/" +
                        std::to_string(index.shardCount) + ", its name says " + std::to_string(number) + "/" +
                        std::to_string(shardCount));
        if (count == 0) count = shardCount, first = entry.path();
        if (shardCount != count)
            throw Error("cannot merge shards of different splits: '" + first.filename().string() + "' is one of " +
                        std::to_string(count) + ", '" + name + "' one of " + std::to_string(shardCount) +
                        "; remove the stale shard indexes");
        shards.emplace(number, std::make_pair(entry.path(), std::move(index)));
    }
    if (shards.empty())
        throw Error("no shard indexes (study.shard-I-of-N.h5) in '" + folderText +
                    "'; run 'gradlab sweep CONFIG --shard I/N -o " + folderText + "' for each shard first");

    const study::StudyIndex& reference = shards.begin()->second.second;
    const std::string referenceName = shards.begin()->second.first.filename().string();
    auto sameStudy = [&](const study::StudyIndex& other, const std::string& otherName) {
        std::string difference;
        if (other.config != reference.config)
            difference = "its study config text differs";
        else if (other.overrides != reference.overrides)
            difference = "its --set overrides differ";
        else if (other.keys != reference.keys)
            difference = "its swept keys differ";
        else if (other.rows.size() != reference.rows.size())
            difference =
                "it has " + std::to_string(other.rows.size()) + " runs, not " + std::to_string(reference.rows.size());
        else
            for (std::size_t row = 0; row < other.rows.size() && difference.empty(); ++row)
                if (other.rows[row].name != reference.rows[row].name ||
                    other.rows[row].index != reference.rows[row].index)
                    difference = "its run " + std::to_string(row) + " is '" + other.rows[row].name + "', not '" +
                                 reference.rows[row].name + "'";
        if (!difference.empty())
            throw Error("refusing to merge: '" + otherName + "' belongs to a different study than '" + referenceName +
                        "' (" + difference + ")");
    };
    for (const auto& [number, shard] : shards) sameStudy(shard.second, shard.first.filename().string());
    const fs::path target = folder.index(Shard{});
    if (fs::exists(target)) {
        const study::StudyIndex existing = study::readStudyIndex(target.string());
        sameStudy(existing, target.filename().string());
    }

    study::StudyIndex merged = reference;
    merged.shardIndex = 0;
    merged.shardCount = 0;
    std::vector<std::int64_t> missing;
    for (std::int64_t number = 1; number <= count; ++number)
        if (!shards.count(number)) missing.push_back(number);
    for (const auto& [number, shard] : shards) merged.createdAt = std::min(merged.createdAt, shard.second.createdAt);
    for (std::size_t row = 0; row < merged.rows.size(); ++row) {
        study::StudyRow& mergedRow = merged.rows[row];
        const std::int64_t owner = mergedRow.index % count + 1;
        const auto found = shards.find(owner);
        if (found != shards.end())
            mergedRow = found->second.second.rows[row];
        else
            resetRow(mergedRow);
        // The traces are the ground truth: a trace that ended since its shard wrote its index wins.
        const fs::path trace = folder.root / mergedRow.trace;
        if (!mergedRow.trace.empty() && fs::is_regular_file(trace)) {
            try {
                const study::RunOutcome outcome = study::readRunOutcome(trace.string());
                if (study::isFinishedStatus(outcome.status) || outcome.status == "failed")
                    applyOutcome(mergedRow, outcome);
            } catch (const Error& error) {
                std::cerr << "gradlab sweep: warning: " << error.what() << "\n";
            }
        }
    }
    bool warned = false;
    writeIndexSafely(target, merged, warned);
    if (warned) return 1;

    Tally tally;
    for (const auto& row : merged.rows) tally.add(row.status);
    std::cout << "merged " << shards.size() << " of " << count << " shard indexes into " << target.string() << ": "
              << merged.rows.size() << " runs: " << tally.text() << "\n";
    if (!missing.empty()) {
        std::string list;
        for (std::int64_t number : missing)
            list += (list.empty() ? "" : ", ") + std::to_string(number) + "/" + std::to_string(count);
        std::cout << "  no index for shard" << (missing.size() == 1 ? " " : "s ") << list
                  << (missing.size() == 1 ? ": its runs were" : ": their runs were")
                  << " read from their traces where they exist\n";
    }
    return tally.of("failed") > 0 || tally.of("pending") > 0 ? 1 : 0;
}

/// `path` made absolute and normal, without a trailing '/'.
fs::path absolutePath(const fs::path& path) {
    fs::path result = fs::absolute(path).lexically_normal();
    if (!result.has_filename() && result.has_parent_path() && result != result.root_path())
        result = result.parent_path();
    return result;
}

/// `gradlab sweep CONFIG --slurm`: writes the study's Slurm scripts into STUDY/slurm/ (docs/cluster.md).
int writeSlurmJobs(const study::SweepPlan& sweep, const StudyFolder& folder, const std::vector<std::string>& pluginPath,
                   const study::SlurmOptions& options) {
    study::SlurmStudy target;
    const fs::path root = absolutePath(folder.root);
    target.name = root.filename().string();
    target.gradlab = boost::dll::program_location().string();
    target.config = absolutePath(sweep.configFile).string();
    target.folder = root.string();
    target.overrides = sweep.commandOverrides;
    for (const auto& entry : pluginPath) target.pluginPath.push_back(absolutePath(entry).string());
    target.runs = static_cast<std::int64_t>(sweep.runs.size());
    study::SlurmScripts scripts;
    try {
        scripts = study::makeSlurmScripts(target, options);
    } catch (const study::SlurmOptionError& error) {
        throw po::error(error.what());
    }
    const std::int64_t shards =
        options.shards > 0 ? options.shards : study::defaultSlurmShards(target.runs, options.cpusPerTask);

    // Shard indexes of another split stay behind a new split; the merge would refuse the mix.
    std::set<std::string> stale;
    if (fs::is_directory(root)) {
        static const std::regex pattern("^study\\.shard-[0-9]+-of-([0-9]+)\\.h5$");
        for (const auto& entry : fs::directory_iterator(root)) {
            const std::string name = entry.path().filename().string();
            std::smatch match;
            if (std::regex_match(name, match, pattern) && std::stoll(match[1]) != shards) stale.insert(name);
        }
    }

    const fs::path slurmFolder = root / "slurm";
    std::error_code error;
    fs::create_directories(slurmFolder / "logs", error);
    if (error) throw Error("cannot create the folder '" + (slurmFolder / "logs").string() + "': " + error.message());
    const std::vector<std::pair<std::string, std::string>> files{
        {"array.sbatch", scripts.array}, {"merge.sbatch", scripts.merge}, {"submit.sh", scripts.submit}};
    for (const auto& [name, text] : files) {
        writeText(slurmFolder / name, text);
        fs::permissions(slurmFolder / name,
                        fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                            fs::perms::others_exec,
                        error);
    }

    const std::int64_t fewest = target.runs / shards, most = (target.runs + shards - 1) / shards;
    std::cout << "study " << root.string() << ": " << target.runs << " run" << (target.runs == 1 ? "" : "s") << " in "
              << shards << " shard" << (shards == 1 ? "" : "s") << " (array tasks) of "
              << (fewest == most ? std::to_string(most) : std::to_string(fewest) + "-" + std::to_string(most)) << " run"
              << (most == 1 ? "" : "s") << ", " << options.cpusPerTask << " core"
              << (options.cpusPerTask == 1 ? "" : "s") << " per task\n"
              << "  " << (slurmFolder / "array.sbatch").string() << "   the array job: task i runs shard i/" << shards
              << "\n"
              << "  " << (slurmFolder / "merge.sbatch").string()
              << "   the merge job: merges the shard indexes into study.h5\n"
              << "  " << (slurmFolder / "submit.sh").string() << "   submits both and prints their job ids\n";
    if (shards > study::maxDefaultSlurmShards)
        std::cout << "note: " << shards << " array tasks: Slurm's default MaxArraySize (1001) allows task ids up to "
                  << study::maxDefaultSlurmShards << "; check your cluster's (scontrol show config)\n";
    if (!stale.empty()) {
        std::cout << "note: " << root.string() << " holds shard indexes of another split, which --merge refuses "
                  << "beside the new ones: remove them (finished runs keep their traces and are not redone):";
        for (const auto& name : stale) std::cout << " " << name;
        std::cout << "\n";
    }
    std::cout << "submit (and resubmit after failures) with: "
              << study::shellQuote((slurmFolder / "submit.sh").string()) << "\n";
    return 0;
}

}  // namespace

int sweepCommand(const std::vector<std::string>& arguments) {
    std::string configFile, output, shardText, merge;
    std::vector<std::string> overrides, pluginPath;
    int jobs = 0;
    bool plan = false, help = false, slurm = false;
    study::SlurmOptions slurmOptions;
    po::options_description description(
        "usage: gradlab sweep CONFIG [options]\n"
        "       gradlab sweep CONFIG --slurm [--slurm-* options] [-o STUDY_DIR] [--set k=v]...\n"
        "       gradlab sweep --merge STUDY_DIR\n\n"
        "Runs a study: the runs a config's `sweep:` block describes (grid, zip, seeds), each a `gradlab run` child\n"
        "process, at most N at once. Every run's config is validated before any run starts. Outcomes are indexed in\n"
        "STUDY_DIR/study.h5 after each run. Running it again resumes: runs that finished (completed, diverged,\n"
        "stopped) with an unchanged config are skipped; missing, killed and failed runs are redone.\n"
        "Exit code: 0 when every run finished, 1 when some failed or the config is invalid, 2 for bad options.\n"
        "See docs/studies.md.\n\noptions");
    description.add_options()("config", po::value(&configFile), "the study's YAML config")(
        "jobs,j", po::value(&jobs), "run at most N runs at once (default: the number of cores)")(
        "plan", po::bool_switch(&plan), "list the runs (index, name, overrides) and exit without running")(
        "output,o", po::value(&output), "the study folder (default: runs/<config stem>)")(
        "shard", po::value(&shardText),
        "run only shard i of N (1 <= i <= N, numbered from 1 like SLURM_ARRAY_TASK_ID with --array=1-N): the runs "
        "with index % N == i - 1; writes STUDY_DIR/study.shard-i-of-N.h5")(
        "merge", po::value(&merge),
        "merge the shard indexes of STUDY_DIR into STUDY_DIR/study.h5 (re-reading the traces), refusing shards of "
        "different studies")("set", po::value(&overrides)->composing(),
                             "override a key of the study config: --set training.steps=100 (repeatable)")(
        "help,h", po::bool_switch(&help), "show this help")(
        "plugin-path", po::value(&pluginPath)->composing(),
        "also load plugin libraries from this folder or file (repeatable; after GRADLAB_PLUGIN_PATH); passed on to the "
        "runs");
    po::options_description slurmDescription(
        "Slurm (docs/cluster.md): --slurm writes STUDY_DIR/slurm/array.sbatch (an array job, task i runs --shard "
        "i/N),\nmerge.sbatch (gradlab sweep --merge after the array) and submit.sh (submits both); it runs nothing");
    slurmDescription.add_options()("slurm", po::bool_switch(&slurm), "write the study's Slurm scripts")(
        "slurm-shards", po::value(&slurmOptions.shards),
        "array tasks, one shard each (default: ceil(runs / cores per task), at most 1000)")(
        "slurm-cpus-per-task", po::value(&slurmOptions.cpusPerTask)->default_value(1),
        "cores per task; the task runs that many runs at once")("slurm-time", po::value(&slurmOptions.time),
                                                                "time limit per task, e.g. 04:00:00 or 1-00:00:00")(
        "slurm-mem", po::value(&slurmOptions.memory), "memory per task, e.g. 8G")(
        "slurm-partition", po::value(&slurmOptions.partition), "the partition to run in")(
        "slurm-account", po::value(&slurmOptions.account), "the account to charge")(
        "slurm-max-running", po::value(&slurmOptions.maxRunning), "at most K tasks at once (--array=1-N%K)")(
        "slurm-sbatch", po::value(&slurmOptions.extraDirectives)->composing(),
        "one more #SBATCH line for both jobs, e.g. --slurm-sbatch=--qos=long (repeatable)");
    description.add(slurmDescription);
    po::positional_options_description positional;
    positional.add("config", 1);
    po::variables_map values;
    po::store(po::command_line_parser(arguments).options(description).positional(positional).run(), values);
    po::notify(values);
    if (help) {
        std::cout << helpText(description, positional) << "\n";
        return 0;
    }
    if (!slurm)
        for (const auto& option : slurmDescription.options())
            if (option->long_name() != "slurm" && values.count(option->long_name()) &&
                !values[option->long_name()].defaulted())
                throw po::error("--" + option->long_name() + " is an option of --slurm, which is not given");
    if (!merge.empty()) {
        if (!configFile.empty() || plan || !shardText.empty() || !output.empty() || !overrides.empty() ||
            values.count("jobs") || slurm)
            throw po::error("--merge STUDY_DIR takes no CONFIG and no other options");
        return mergeShards(merge);
    }
    if (slurm && (plan || !shardText.empty() || values.count("jobs")))
        throw po::error(std::string("--slurm writes job scripts and runs nothing, so it takes no ") +
                        (plan                 ? "--plan"
                         : !shardText.empty() ? "--shard (each array task runs its own)"
                                              : "--jobs (set the cores per task with "
                                                "--slurm-cpus-per-task; each task runs that many runs "
                                                "at once)"));
    if (slurm) {
        if (values.count("slurm-shards") && slurmOptions.shards < 1)
            throw po::error("--slurm-shards expects N >= 1 array tasks, got " + std::to_string(slurmOptions.shards));
        if (values.count("slurm-max-running") && slurmOptions.maxRunning < 1)
            throw po::error("--slurm-max-running expects K >= 1 tasks at once, got " +
                            std::to_string(slurmOptions.maxRunning));
        try {
            study::validateSlurmOptions(slurmOptions);
        } catch (const study::SlurmOptionError& error) {
            throw po::error(error.what());
        }
    }
    if (configFile.empty()) throw po::error("missing CONFIG");
    if (values.count("jobs") && jobs < 1) throw po::error("--jobs expects N >= 1, got " + std::to_string(jobs));
    if (jobs == 0) jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const Shard shard = shardText.empty() ? Shard{} : parseShard(shardText);

    PluginHost host;
    host.loadSearchPath(pluginSearchPath(pluginPath));
    const study::SweepPlan sweep = study::planSweep(configFile, overrides, host);
    std::vector<const study::PlannedRun*> selected;
    for (const auto& run : sweep.runs)
        if (shard.selects(run.index)) selected.push_back(&run);

    const StudyFolder folder{output.empty() ? fs::path("runs") / fs::path(configFile).stem() : fs::path(output)};
    if (slurm) return writeSlurmJobs(sweep, folder, pluginPath, slurmOptions);
    if (plan) {
        std::cout << "study " << configFile << ": " << sweep.runs.size() << " run"
                  << (sweep.runs.size() == 1 ? "" : "s");
        if (shard.count > 0) std::cout << ", shard " << shard.label() << ": " << selected.size();
        std::cout << " -> " << folder.root.string() << "/\n" << study::describePlan(selected);
        return 0;
    }

    for (const char* sub : {"configs", "runs", "logs"}) {
        std::error_code error;
        fs::create_directories(folder.root / sub, error);
        if (error)
            throw Error("cannot create the study folder '" + (folder.root / sub).string() + "': " + error.message());
    }
    const fs::path indexPath = folder.index(shard);
    files::requireRegularOrMissing(indexPath.string(), "study index");
    // One sweep at a time per study index (each shard has its own): the lock says who holds it.
    const files::FileLock studyLock(files::lockPathFor(indexPath.string()), "the study index '" + indexPath.string() + "'");
    files::removeStaleTemporaries(indexPath.string());

    study::StudyIndex index;
    index.config = sweep.configText;
    index.configFile = configFile;
    index.overrides = overrides;
    index.keys = sweep.keys;
    index.shardIndex = shard.number;
    index.shardCount = shard.count;
    index.createdAt = study::utcTimestamp();
    if (fs::exists(indexPath)) {
        try {
            index.createdAt = study::readStudyIndex(indexPath.string()).createdAt;
        } catch (const Error&) {
            // An unreadable index is rewritten from the traces.
        }
    }
    for (const auto& run : sweep.runs) {
        study::StudyRow row;
        row.name = run.name;
        row.index = run.index;
        row.trace = fs::path("runs") / (run.name + ".h5");
        row.log = fs::path("logs") / (run.name + ".log");
        row.seed = static_cast<std::int64_t>(run.seed);
        for (const auto& key : sweep.keys) row.parameters.push_back(run.valueOf(key));
        index.rows.push_back(std::move(row));
    }

    // Resume: a run whose trace finished with the config it would get now, and still reads, is done.
    std::vector<Job> toRun;
    std::size_t skipped = 0, resumed = 0, elsewhere = 0;
    for (const study::PlannedRun* run : selected) {
        Job job;
        job.row = static_cast<std::size_t>(run->index);
        job.configPath = folder.config(run->name);
        job.tracePath = folder.trace(run->name);
        job.logPath = folder.log(run->name);
        // The config names its trace relative to the study folder: moved or copied whole, the study is still done.
        job.config = study::resolvedRunConfig(sweep, *run, (fs::path("runs") / (run->name + ".h5")).string(), host);
        // A run whose lock is held is being written by a live process (another sweep's, or a `gradlab run`):
        // neither its trace nor its checkpoint is touched.
        if (const auto holder = files::lockHolder(files::lockPathFor(job.tracePath.string()))) {
            study::StudyRow& row = index.rows[job.row];
            row.message = "running elsewhere (" + (*holder > 0 ? "pid " + std::to_string(*holder) : "pid unknown") +
                          ", lock '" + files::lockPathFor(job.tracePath.string()) + "')";
            std::cout << "not starting " << run->name << ": " << row.message << "\n";
            ++elsewhere;
            continue;
        }
        if (fs::exists(job.tracePath)) {
            try {
                const study::RunOutcome outcome = study::readRunOutcome(job.tracePath.string());
                if (study::isFinishedStatus(outcome.status)) {
                    if (readText(job.configPath) == job.config) {
                        try {
                            study::checkTraceReadable(job.tracePath.string());
                            applyOutcome(index.rows[job.row], outcome);
                            ++skipped;
                            continue;
                        } catch (const Error& error) {
                            std::cout << "rerunning " << run->name << ": its trace is damaged (" << error.what()
                                      << ")\n";
                            toRun.push_back(std::move(job));
                            continue;
                        }
                    }
                    std::cout << "rerunning " << run->name << ": its config changed since its trace was written\n";
                } else if ((outcome.status == "running" || outcome.status == "interrupted") &&
                           readText(job.configPath) == job.config) {
                    // Killed or interrupted with the same config: continue from its checkpoint (from step 0
                    // when it stopped before its first one).
                    job.resume = true;
                    ++resumed;
                }
            } catch (const Error& error) {
                // A trace is renamed into place with its header written: one that does not read is damaged.
                std::cout << "rerunning " << run->name << ": its trace is damaged (" << error.what() << ")\n";
            }
        }
        toRun.push_back(std::move(job));
    }
    bool indexWarned = false;
    writeIndexSafely(indexPath, index, indexWarned);

    const bool live = ::isatty(STDERR_FILENO) == 1;
    std::cout << "study " << folder.root.string() << ": " << selected.size() << " run"
              << (selected.size() == 1 ? "" : "s");
    if (shard.count > 0) std::cout << " (shard " << shard.label() << " of " << sweep.runs.size() << ")";
    if (skipped > 0) std::cout << ", " << skipped << " already done";
    if (elsewhere > 0) std::cout << ", " << elsewhere << " running elsewhere";
    if (resumed > 0) std::cout << ", " << resumed << " to resume from their checkpoints";
    std::cout << ", " << toRun.size() << " to run, "
              << std::min<std::size_t>(static_cast<std::size_t>(jobs), std::max<std::size_t>(toRun.size(), 1))
              << " at once\n"
              << std::flush;

    const std::string program = boost::dll::program_location().string();
    const auto start = Clock::now();
    Progress progress(live, toRun.size());
    std::vector<Child> running;
    std::size_t next = 0, done = 0, failed = 0;
    bool stopping = false;
    {
        SignalWakeup wakeup;
        while ((!stopping && next < toRun.size()) || !running.empty()) {
            if (interruptSignal != 0 && !stopping) {
                stopping = true;
                for (const Child& child : running) ::kill(child.pid, SIGTERM);
            }
            while (!stopping && running.size() < static_cast<std::size_t>(jobs) && next < toRun.size()) {
                Job& job = toRun[next];
                study::StudyRow& row = index.rows[job.row];
                resetRow(row);
                std::error_code ignored;
                if (const auto holder = files::lockHolder(files::lockPathFor(job.tracePath.string()))) {
                    // Started elsewhere since the plan was made: left alone, redone by a later sweep if need be.
                    row.message = "running elsewhere (pid " + std::to_string(*holder) + ")";
                    std::cout << "not starting " << row.name << ": " << row.message << "\n";
                    ++elsewhere;
                    ++next;
                    continue;
                }
                // A stale trace must not pass for this run's outcome; a resumed run continues its own.
                if (!job.resume) fs::remove(job.tracePath, ignored);
                try {
                    writeText(job.configPath, job.config);
                    running.push_back(Child{launch(program, job, pluginPath), next, Clock::now()});
                } catch (const Error& error) {
                    // The run cannot start (disk full, no more processes): a failed row, the others go on.
                    row.status = "failed";
                    row.message = error.what();
                    ++done;
                    ++failed;
                    writeIndexSafely(indexPath, index, indexWarned);
                    progress.finished(done, row, 0.0, job.logPath.string());
                }
                ++next;
            }
            progress.refresh(done, failed, running.size());
            int status = 0;
            const pid_t pid = ::waitpid(-1, &status, WNOHANG);
            if (pid == 0 || (pid < 0 && errno == EINTR)) {
                wakeup.wait(refreshMilliseconds);
                continue;
            }
            if (pid < 0) throw Error(std::string("waiting for the runs failed: ") + std::strerror(errno));
            const auto finished =
                std::find_if(running.begin(), running.end(), [&](const Child& child) { return child.pid == pid; });
            if (finished == running.end()) continue;
            const Child child = *finished;
            running.erase(finished);
            const Job& job = toRun[child.job];
            study::StudyRow& row = index.rows[job.row];
            const double seconds = std::chrono::duration<double>(Clock::now() - child.started).count();
            std::string reason = WIFEXITED(status)     ? "exited with code " + std::to_string(WEXITSTATUS(status))
                                 : WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status)) +
                                                             " (" + strsignal(WTERMSIG(status)) + ")"
                                                       : "ended";
            std::string traceStatus;
            try {
                const study::RunOutcome outcome = study::readRunOutcome(job.tracePath.string());
                traceStatus = outcome.status;
                applyOutcome(row, outcome);
            } catch (const Error&) {
                row.status = "failed";
            }
            if (!study::isFinishedStatus(traceStatus) && traceStatus != "failed") {
                const std::string logLine = lastLogLine(job.logPath);
                row.status = stopping ? "pending" : "failed";
                row.message = "the run " + reason +
                              (traceStatus.empty() ? " without a trace" : " before finishing its trace") +
                              (logLine.empty() ? std::string() : ": " + logLine);
                if (stopping) row.verdict = "unknown";
            }
            if (row.status == "pending") continue;  // interrupted: redone on resume
            ++done;
            if (row.status == "failed") ++failed;
            writeIndexSafely(indexPath, index, indexWarned);
            progress.finished(done, row, seconds, job.logPath.string());
            progress.refresh(done, failed, running.size(), true);
        }
    }
    progress.close();
    const bool indexWritten = writeIndexSafely(indexPath, index, indexWarned);

    Tally tally;
    for (const study::PlannedRun* run : selected) tally.add(index.rows[static_cast<std::size_t>(run->index)].status);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::cout << "study " << folder.root.string() << ": " << selected.size() << " run"
              << (selected.size() == 1 ? "" : "s") << ": " << tally.text();
    if (skipped > 0) std::cout << " (" << skipped << " skipped as already done)";
    if (elsewhere > 0) std::cout << " (" << elsewhere << " not started: running elsewhere)";
    std::cout << " in " << formatDuration(seconds) << "\n  index " << indexPath.string() << "\n";
    for (const study::PlannedRun* run : selected) {
        const study::StudyRow& row = index.rows[static_cast<std::size_t>(run->index)];
        if (row.status == "failed")
            std::cout << "  failed " << row.name << ": " << row.message << " (log: " << (folder.root / row.log).string()
                      << ")\n";
    }
    if (!indexWritten) {
        // The runs' traces are the ground truth; the index is rebuilt from them by the next sweep of the study.
        std::cerr << "gradlab sweep: error: the study index " << indexPath.string()
                  << " could not be written (see the warning above; the previous index, if any, is unchanged); "
                     "free some space or fix the folder, then run the same command again\n";
        return 1;
    }
    if (stopping) {
        std::cerr << "gradlab sweep: interrupted (" << strsignal(interruptSignal)
                  << "); run the same command again to resume\n";
        return 130;
    }
    return tally.of("failed") > 0 || elsewhere > 0 ? 1 : 0;
}

}  // namespace gradlab::cli
