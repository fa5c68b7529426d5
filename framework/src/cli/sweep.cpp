#include "cli/sweep.hpp"

#include <unistd.h>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "cli/help.hpp"
#include "gradlab/error.hpp"
#include "plugin/plugin_host.hpp"
#include "study/index_schedule.hpp"
#include "study/run_pool.hpp"
#include "study/slurm_script.hpp"
#include "study/study_folder.hpp"
#include "study/study_index.hpp"
#include "study/study_merge.hpp"
#include "study/sweep_plan.hpp"
#include "util/file_lock.hpp"
#include "util/safe_files.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace gradlab::cli {
namespace {

using Clock = std::chrono::steady_clock;
using study::Shard;
using study::StudyFolder;

/// How often the live progress line is redrawn while no run finishes.
constexpr int refreshMilliseconds = 250;

/// The shard --shard names; a po::error (exit code 2) for any other text.
Shard parseShardOption(const std::string& text) {
    if (const auto shard = study::parseShard(text)) return *shard;
    throw po::error(
        "--shard expects i/N with 1 <= i <= N (shards are numbered from 1, like SLURM_ARRAY_TASK_ID "
        "in an array job submitted with --array=1-N), got '" +
        text + "'");
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
void writeText(const fs::path& path, const std::string& text, files::FileSync sync = files::FileSync::synced) {
    files::writeFileAtomically(path.string(), text, "file", sync);
}

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
        if (row.status == RunStatus::failed)
            line << ": " << row.message << " (log: " << logPath << ")";
        else if (row.status == RunStatus::diverged)
            line << " at step " << row.divergedAt;
        else if (row.status == RunStatus::stopped)
            line << ": " << row.message;
        if (row.status != RunStatus::failed) {
            line << ", " << row.verdict << ", final train loss " << formatNumber(row.finalLoss);
            const std::string metrics = analysis::formatMetrics(row.metrics);
            if (!metrics.empty()) line << ", " << metrics;
        }
        line << " (" << formatDuration(seconds) << ")";
        if (!live_) {
            std::cout << line.str() << "\n" << std::flush;
        } else if (row.status != RunStatus::completed) {
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

/// Seconds on the steady clock, for the index schedule.
double steadySeconds() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

/// Writes the index like writeIndexSafely and records the write, whether it was due or not, in `schedule`.
bool writeIndexTimed(const fs::path& path, study::StudyIndex& index, bool& warned, study::IndexSchedule& schedule) {
    const double start = steadySeconds();
    const bool written = writeIndexSafely(path, index, warned);
    const double end = steadySeconds();
    schedule.written(end, end - start);
    return written;
}

/// Writes the index when `schedule` says a write is due (after a run ends): the index is rewritten whole, so
/// rewriting it after every run would cost O(rows) per run. Between writes the traces hold every outcome.
void writeIndexWhenDue(const fs::path& path, study::StudyIndex& index, bool& warned, study::IndexSchedule& schedule) {
    if (schedule.due(steadySeconds())) writeIndexTimed(path, index, warned, schedule);
}

/// Counts of row statuses over some rows, and a summary sentence.
struct Tally {
    std::map<RunStatus, std::size_t> statuses;

    void add(RunStatus status) { ++statuses[status]; }
    std::size_t of(RunStatus status) const {
        const auto found = statuses.find(status);
        return found == statuses.end() ? 0 : found->second;
    }
    /// "3 completed, 1 diverged": the statuses of study rows that occur, completed always.
    std::string text() const {
        std::string result;
        for (const RunStatus status : study::studyRowStatuses)
            if (of(status) > 0 || status == RunStatus::completed)
                result += (result.empty() ? "" : ", ") + std::to_string(of(status)) + " " + toString(status);
        return result;
    }
};


/// `gradlab sweep --merge STUDY_DIR`: merges the shard indexes into study.h5 and says what it found.
int mergeShards(const std::string& folderText) {
    const StudyFolder folder{fs::path(folderText)};
    if (!fs::is_directory(folder.root)) throw Error("cannot merge '" + folderText + "': no such study folder");
    const std::string mergedPath = folder.index(Shard{}).string();
    files::requireRegularOrMissing(mergedPath, "study index");
    const files::FileLock studyLock(files::lockPathFor(mergedPath), "the study index '" + mergedPath + "'");
    files::removeStaleTemporaries(mergedPath);
    study::MergedStudy merged = study::mergeShardIndexes(folder);
    for (const std::string& warning : merged.warnings) std::cerr << "gradlab sweep: warning: " << warning << "\n";
    bool warned = false;
    writeIndexSafely(mergedPath, merged.index, warned);
    if (warned) return 1;

    Tally tally;
    for (const auto& row : merged.index.rows) tally.add(row.status);
    std::cout << "merged " << merged.shardsFound << " of " << merged.shardCount << " shard indexes into " << mergedPath
              << ": " << merged.index.rows.size() << " runs: " << tally.text() << "\n";
    if (!merged.missing.empty()) {
        std::string list;
        for (std::int64_t number : merged.missing)
            list += (list.empty() ? "" : ", ") + std::to_string(number) + "/" + std::to_string(merged.shardCount);
        std::cout << "  no index for shard" << (merged.missing.size() == 1 ? " " : "s ") << list
                  << (merged.missing.size() == 1 ? ": its runs were" : ": their runs were")
                  << " read from their traces where they exist\n";
    }
    return tally.of(RunStatus::failed) > 0 || tally.of(RunStatus::pending) > 0 ? 1 : 0;
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
                   const std::string& keepLogs, const study::SlurmOptions& options) {
    study::SlurmStudy target;
    const fs::path root = absolutePath(folder.root);
    target.name = root.filename().string();
    target.gradlab = boost::dll::program_location().string();
    target.config = absolutePath(sweep.configFile).string();
    target.folder = root.string();
    target.overrides = sweep.commandOverrides;
    for (const auto& entry : pluginPath) target.pluginPath.push_back(absolutePath(entry).string());
    target.runs = static_cast<std::int64_t>(sweep.runs.size());
    target.keepLogs = keepLogs;
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
        for (const auto& entry : fs::directory_iterator(root)) {
            const std::string name = entry.path().filename().string();
            const std::optional<Shard> shard = study::shardOfIndexName(name);
            if (shard && shard->count != shards) stale.insert(name);
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


/// The command line of a run: `gradlab run CONFIG -o TRACE -q [--resume] [--plugin-path DIR]...`.
std::vector<std::string> runArguments(const std::string& program, const study::RunJob& job,
                                      const std::vector<std::string>& pluginPath) {
    std::vector<std::string> arguments{program, "run", job.configPath.string(), "-o", job.tracePath.string(), "-q"};
    if (job.resume) arguments.push_back("--resume");
    for (const auto& folder : pluginPath) {
        arguments.push_back("--plugin-path");
        arguments.push_back(folder);
    }
    return arguments;
}

/// Writes down in its row how a run's process ended: its trace's outcome, or (no finished trace) failed with the
/// exit and the log's last line, pending when the sweep is stopping (redone on resume).
void recordExit(study::StudyRow& row, const study::RunJob& job, const study::ChildExit& exit, bool stopping) {
    std::optional<RunStatus> traceStatus;
    try {
        const study::RunOutcome outcome = study::readRunOutcome(job.tracePath.string());
        traceStatus = outcome.status;
        study::applyOutcome(row, outcome);
    } catch (const Error&) {
        row.status = RunStatus::failed;
    }
    if (!study::isFinishedStatus(traceStatus) && traceStatus != RunStatus::failed) {
        const std::string logLine = lastLogLine(job.logPath);
        row.status = stopping ? RunStatus::pending : RunStatus::failed;
        row.message = "the run " + exit.reason() + (!traceStatus ? " without a trace" : " before finishing its trace") +
                      (logLine.empty() ? std::string() : ": " + logLine);
        if (stopping) row.verdict = "unknown";
    }
}

/// What a sweep asked for on its command line, once checked.
struct SweepRequest {
    std::string configFile, output;
    std::vector<std::string> overrides, pluginPath;
    int jobs = 0;  ///< runs at once; 0 until the options are read, then at least 1
    bool plan = false, slurm = false;
    std::string keepLogs = "all";    ///< --keep-logs as given: "all" or "failed"
    bool keepLogsGiven = false;      ///< whether --keep-logs was given (passed on to Slurm's tasks)

    /// --keep-logs failed: a run that finished loses its log.
    bool dropsFinishedLogs() const { return keepLogs == "failed"; }
    study::SlurmOptions slurmOptions;
    Shard shard;
};

/// How running the jobs ended.
struct PoolResult {
    std::size_t done = 0, failed = 0, elsewhere = 0;  ///< elsewhere: found locked when their turn came
    int stopSignal = 0;                                ///< SIGINT or SIGTERM when it stopped early, else 0
};

/// Runs the jobs, at most `jobs` at once, writing the index when `schedule` says so after a run ends; SIGINT or
/// SIGTERM stops them (SIGTERM to every run) and leaves the unfinished ones pending.
PoolResult runJobs(std::vector<study::RunJob>& toRun, study::StudyIndex& index, const fs::path& indexPath,
                   const SweepRequest& request, Progress& progress, bool& indexWarned,
                   study::IndexSchedule& schedule) {
    const std::string program = boost::dll::program_location().string();
    PoolResult result;
    std::size_t next = 0;
    study::RunPool pool;
    // Stops everything on SIGINT or SIGTERM, else starts runs until `jobs` run.
    const auto startRuns = [&] {
        if (pool.interruptSignal() != 0 && result.stopSignal == 0) {
            result.stopSignal = pool.interruptSignal();
            pool.terminateAll();
        }
        while (result.stopSignal == 0 && pool.running() < static_cast<std::size_t>(request.jobs) &&
               next < toRun.size()) {
            study::RunJob& job = toRun[next];
            study::StudyRow& row = index.rows[job.row];
            study::resetRow(row);
            std::error_code ignored;
            if (const auto holder = files::lockHolder(files::lockPathFor(job.tracePath.string()))) {
                // Started elsewhere since the plan was made: left alone, redone by a later sweep if need be.
                row.message = "running elsewhere (pid " + std::to_string(*holder) + ")";
                std::cout << "not starting " << row.name << ": " << row.message << "\n";
                ++result.elsewhere;
                ++next;
                continue;
            }
            // A stale trace must not pass for this run's outcome; a resumed run continues its own.
            if (!job.resume) fs::remove(job.tracePath, ignored);
            try {
                // Not synced (an fsync, about 5 ms here, per run in the sweep's one thread): a run config lost to a
                // power failure no longer matches, so its run is redone; a kill leaves the old or the new text.
                writeText(job.configPath, job.config, files::FileSync::unsynced);
                // A resumed run appends to its log, which keeps what the killed run printed.
                pool.launch(next, runArguments(program, job, request.pluginPath), job.logPath.string(), job.resume);
            } catch (const Error& error) {
                // The run cannot start (disk full, no more processes): a failed row, the others go on.
                row.status = RunStatus::failed;
                row.message = error.what();
                ++result.done;
                ++result.failed;
                writeIndexWhenDue(indexPath, index, indexWarned, schedule);
                progress.finished(result.done, row, 0.0, job.logPath.string());
            }
            ++next;
        }
    };
    while ((result.stopSignal == 0 && next < toRun.size()) || pool.running() > 0) {
        startRuns();
        progress.refresh(result.done, result.failed, pool.running());
        const std::optional<study::ChildExit> exit = pool.waitForExit(refreshMilliseconds);
        if (!exit) continue;
        // The freed slot is filled before the finished run's trace is read (a diagnosis, some milliseconds in this
        // one thread): the next run starts at once instead of waiting for the bookkeeping of the last.
        startRuns();
        const study::RunJob& job = toRun[exit->job];
        study::StudyRow& row = index.rows[job.row];
        recordExit(row, job, *exit, result.stopSignal != 0);
        if (row.status == RunStatus::pending) continue;  // interrupted: redone on resume
        if (request.dropsFinishedLogs() && study::isFinishedStatus(row.status)) {
            std::error_code ignored;
            fs::remove(job.logPath, ignored);  // its trace says how it ended; the index still names the log
        }
        ++result.done;
        if (row.status == RunStatus::failed) ++result.failed;
        writeIndexWhenDue(indexPath, index, indexWarned, schedule);
        progress.finished(result.done, row, exit->seconds, job.logPath.string());
        progress.refresh(result.done, result.failed, pool.running(), true);
    }
    return result;
}

/// `gradlab sweep CONFIG`: plans the study, writes its Slurm scripts or its plan, or runs what is not done yet.
int runStudy(const SweepRequest& request) {
    PluginHost host;
    host.loadSearchPath(pluginSearchPath(request.pluginPath));
    const study::SweepPlan sweep = study::planSweep(request.configFile, request.overrides, host, request.shard);
    std::vector<const study::PlannedRun*> selected;
    for (const auto& run : sweep.runs)
        if (request.shard.selects(run.index)) selected.push_back(&run);

    const StudyFolder folder{request.output.empty() ? fs::path("runs") / fs::path(request.configFile).stem()
                                                    : fs::path(request.output)};
    if (request.slurm)
        return writeSlurmJobs(sweep, folder, request.pluginPath, request.keepLogsGiven ? request.keepLogs : "",
                              request.slurmOptions);
    const Shard& shard = request.shard;
    if (request.plan) {
        std::cout << "study " << request.configFile << ": " << sweep.runs.size() << " run"
                  << (sweep.runs.size() == 1 ? "" : "s");
        if (shard.count > 0) std::cout << ", shard " << shard.label() << ": " << selected.size();
        std::cout << " -> " << folder.root.string() << "/\n" << study::describePlan(selected);
        return 0;
    }

    folder.create();
    const fs::path indexPath = folder.index(shard);
    files::requireRegularOrMissing(indexPath.string(), "study index");
    // One sweep at a time per study index (each shard has its own): the lock says who holds it.
    const files::FileLock studyLock(files::lockPathFor(indexPath.string()), "the study index '" + indexPath.string() + "'");
    files::removeStaleTemporaries(indexPath.string());

    study::StudyIndex index = study::newStudyIndex(sweep, shard);
    if (fs::exists(indexPath)) {
        try {
            index.createdAt = study::readStudyIndex(indexPath.string()).createdAt;
        } catch (const Error&) {
            // An unreadable index is rewritten from the traces.
        }
    }
    // Resume: a run whose trace finished with the config it would get now, and still reads, is done.
    study::ResumePlan resume = study::planResume(sweep, selected, folder, index, host);
    for (const std::string& note : resume.notes) std::cout << note << "\n";
    bool indexWarned = false;
    study::IndexSchedule schedule;
    writeIndexTimed(indexPath, index, indexWarned, schedule);

    const bool live = ::isatty(STDERR_FILENO) == 1;
    std::cout << "study " << folder.root.string() << ": " << selected.size() << " run"
              << (selected.size() == 1 ? "" : "s");
    if (shard.count > 0) std::cout << " (shard " << shard.label() << " of " << sweep.runs.size() << ")";
    if (resume.skipped > 0) std::cout << ", " << resume.skipped << " already done";
    if (resume.elsewhere > 0) std::cout << ", " << resume.elsewhere << " running elsewhere";
    if (resume.resumed > 0) std::cout << ", " << resume.resumed << " to resume from their checkpoints";
    std::cout << ", " << resume.toRun.size() << " to run, "
              << std::min<std::size_t>(static_cast<std::size_t>(request.jobs),
                                       std::max<std::size_t>(resume.toRun.size(), 1))
              << " at once\n"
              << std::flush;

    const auto start = Clock::now();
    Progress progress(live, resume.toRun.size());
    const PoolResult ran = runJobs(resume.toRun, index, indexPath, request, progress, indexWarned, schedule);
    const std::size_t elsewhere = resume.elsewhere + ran.elsewhere;
    progress.close();
    const bool indexWritten = writeIndexSafely(indexPath, index, indexWarned);

    Tally tally;
    for (const study::PlannedRun* run : selected) tally.add(index.rows[index.rowOf(run->index)].status);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::cout << "study " << folder.root.string() << ": " << selected.size() << " run"
              << (selected.size() == 1 ? "" : "s") << ": " << tally.text();
    if (resume.skipped > 0) std::cout << " (" << resume.skipped << " skipped as already done)";
    if (elsewhere > 0) std::cout << " (" << elsewhere << " not started: running elsewhere)";
    std::cout << " in " << formatDuration(seconds) << "\n  index " << indexPath.string() << "\n";
    for (const study::PlannedRun* run : selected) {
        const study::StudyRow& row = index.rows[index.rowOf(run->index)];
        if (row.status == RunStatus::failed)
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
    if (ran.stopSignal != 0) {
        std::cerr << "gradlab sweep: interrupted (" << strsignal(ran.stopSignal)
                  << "); run the same command again to resume\n";
        return 130;
    }
    return tally.of(RunStatus::failed) > 0 || elsewhere > 0 ? 1 : 0;
}

/// What `gradlab sweep` reads from its command line: the request, and the options that pick another mode.
struct SweepCommandLine {
    SweepRequest request;
    std::string shardText, merge;
    bool help = false;
};

/// The usage line and description of `gradlab sweep`, the caption of its options.
constexpr const char* sweepUsage =
    "usage: gradlab sweep CONFIG [options]\n"
    "       gradlab sweep CONFIG --slurm [--slurm-* options] [-o STUDY_DIR] [--set k=v]...\n"
    "       gradlab sweep --merge STUDY_DIR\n\n"
    "Runs a study: the runs a config's `sweep:` block describes (grid, zip, seeds), each a `gradlab run` child\n"
    "process, at most N at once. Every run's config is validated before any run starts. Outcomes are indexed in\n"
    "STUDY_DIR/study.h5 after each run. Running it again resumes: runs that finished (completed, diverged,\n"
    "stopped) with an unchanged config are skipped; missing, killed and failed runs are redone.\n"
    "Exit code: 0 when every run finished, 1 when some failed or the config is invalid, 2 for bad options.\n"
    "See docs/studies.md.\n\noptions";

/// The caption of the --slurm options.
constexpr const char* slurmCaption =
    "Slurm (docs/cluster.md): --slurm writes STUDY_DIR/slurm/array.sbatch (an array job, task i runs --shard "
    "i/N),\nmerge.sbatch (gradlab sweep --merge after the array) and submit.sh (submits both); it runs nothing";

/// Declares the options of `gradlab sweep` in `description` and the --slurm ones in `slurmDescription` (which
/// is added to `description`), bound to `values`.
void declareSweepOptions(po::options_description& description, po::options_description& slurmDescription,
                         SweepCommandLine& values) {
    description.add_options()("config", po::value(&values.request.configFile), "the study's YAML config")(
        "jobs,j", po::value(&values.request.jobs), "run at most N runs at once (default: the number of cores)")(
        "plan", po::bool_switch(&values.request.plan),
        "list the runs (index, name, overrides) and exit without running")(
        "output,o", po::value(&values.request.output), "the study folder (default: runs/<config stem>)")(
        "shard", po::value(&values.shardText),
        "run only shard i of N (1 <= i <= N, numbered from 1 like SLURM_ARRAY_TASK_ID with --array=1-N): the runs "
        "with index % N == i - 1; writes STUDY_DIR/study.shard-i-of-N.h5")(
        "merge", po::value(&values.merge),
        "merge the shard indexes of STUDY_DIR into STUDY_DIR/study.h5 (re-reading the traces), refusing shards of "
        "different studies")("set", po::value(&values.request.overrides)->composing(),
                             "override a key of the study config: --set training.steps=100 (repeatable)")(
        "help,h", po::bool_switch(&values.help), "show this help")(
        "keep-logs", po::value(&values.request.keepLogs)->default_value("all"),
        "which runs keep their log STUDY_DIR/logs/<name>.log: all, or failed (the log of a run that completed, "
        "diverged or stopped is removed once it ends: its trace says how it ended)")(
        "plugin-path", po::value(&values.request.pluginPath)->composing(),
        "also load plugin libraries from this folder or file (repeatable; after GRADLAB_PLUGIN_PATH); passed on to the "
        "runs");
    slurmDescription.add_options()("slurm", po::bool_switch(&values.request.slurm), "write the study's Slurm scripts")(
        "slurm-shards", po::value(&values.request.slurmOptions.shards),
        "array tasks, one shard each (default: ceil(runs / cores per task), at most 1000)")(
        "slurm-cpus-per-task", po::value(&values.request.slurmOptions.cpusPerTask)->default_value(1),
        "cores per task; the task runs that many runs at once")(
        "slurm-time", po::value(&values.request.slurmOptions.time), "time limit per task, e.g. 04:00:00 or 1-00:00:00")(
        "slurm-mem", po::value(&values.request.slurmOptions.memory), "memory per task, e.g. 8G")(
        "slurm-partition", po::value(&values.request.slurmOptions.partition), "the partition to run in")(
        "slurm-account", po::value(&values.request.slurmOptions.account), "the account to charge")(
        "slurm-max-running", po::value(&values.request.slurmOptions.maxRunning),
        "at most K tasks at once (--array=1-N%K)")(
        "slurm-sbatch", po::value(&values.request.slurmOptions.extraDirectives)->composing(),
        "one more #SBATCH line for both jobs, e.g. --slurm-sbatch=--qos=long (repeatable)");
    description.add(slurmDescription);
}

}  // namespace

int sweepCommand(const std::vector<std::string>& arguments) {
    SweepCommandLine commandLine;
    SweepRequest& request = commandLine.request;
    const std::string &configFile = request.configFile, &shardText = commandLine.shardText, &merge = commandLine.merge;
    const std::vector<std::string>& overrides = request.overrides;
    int& jobs = request.jobs;
    const bool &plan = request.plan, &slurm = request.slurm, &help = commandLine.help;
    study::SlurmOptions& slurmOptions = request.slurmOptions;
    po::options_description description(sweepUsage);
    po::options_description slurmDescription(slurmCaption);
    declareSweepOptions(description, slurmDescription, commandLine);
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
        if (!configFile.empty() || plan || !shardText.empty() || !request.output.empty() || !overrides.empty() ||
            values.count("jobs") || slurm || !values["keep-logs"].defaulted())
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
    if (request.keepLogs != "all" && request.keepLogs != "failed")
        throw po::error("--keep-logs expects 'all' or 'failed', got '" + request.keepLogs + "'");
    request.keepLogsGiven = !values["keep-logs"].defaulted();
    if (configFile.empty()) throw po::error("missing CONFIG");
    if (values.count("jobs") && jobs < 1) throw po::error("--jobs expects N >= 1, got " + std::to_string(jobs));
    if (jobs == 0) jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

    if (!shardText.empty()) request.shard = parseShardOption(shardText);
    return runStudy(request);
}

}  // namespace gradlab::cli
