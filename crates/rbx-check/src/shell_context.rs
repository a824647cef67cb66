//! Where each `{{ … }}` of a shell command lands: inside which quotes or
//! here-document, and which further shells parse it again as code (`eval`,
//! `sh -c`, `ssh`'s remote command, a script piped into a shell).
//!
//! Lint reads this to report interpolations that are unsafe or cannot
//! work; the engine reads the same answer to write each value as the
//! variable reference that fits where it stands. One reading for both, so
//! what lint accepts is exactly what the engine knows how to run.
//!
//! This is a model of POSIX `sh`, not a full parser: it follows quotes,
//! backslashes, comments, `$( … )`, backticks, `${ … }`, here-documents,
//! simple commands, pipelines and redirections. It does not follow
//! functions, aliases, or a command held in a variable (`$cmd`), and it
//! does not look for `$( … )` inside a here-document's body.

use std::collections::VecDeque;

use rbx_syntax::ast::{Text, TextPart};

/// What quotes an interpolated value stands in, for one shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoting {
    /// An ordinary word of a command, outside any quotes.
    Bare,
    /// Inside `"…"`.
    Double,
    /// Inside `'…'`, where the shell expands nothing.
    Single,
    /// In the body of a here-document with an unquoted delimiter
    /// (`<<EOF`): expanded, and quotes there are ordinary characters.
    Heredoc,
    /// In the body of a here-document with a quoted delimiter (`<<'EOF'`),
    /// where nothing is expanded.
    QuotedHeredoc,
    /// Right after a backslash outside quotes, which would escape the first
    /// character of whatever rbx writes there.
    Escaped,
    /// In a `#` comment: never run.
    Comment,
}

impl Quoting {
    /// Where the value stands, for messages: "inside '…'".
    pub fn describe(self) -> &'static str {
        match self {
            Quoting::Bare => "a word of its own",
            Quoting::Double => "inside \"…\"",
            Quoting::Single => "inside '…'",
            Quoting::Heredoc => "in a here-document",
            Quoting::QuotedHeredoc => "in a here-document with a quoted delimiter",
            Quoting::Escaped => "after a backslash",
            Quoting::Comment => "in a comment",
        }
    }
}

/// One more parse of a value as shell code, after the shell rbx starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reparse {
    /// What parses it again: `ssh`, `sh -c`, `eval`, `watch`, ….
    pub by: String,
    /// Where the value stands in that parse.
    pub quoting: Quoting,
}

/// Where one interpolation lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// Where it stands in the command rbx runs with `sh -c`.
    pub quoting: Quoting,
    /// Every further parse of it as code, outermost first.
    pub reparsed: Vec<Reparse>,
    /// The command that would read the value as its options, when it
    /// starts a word where that command looks for options: `ssh`'s
    /// destination with no `--` before it. A value `-oProxyCommand=…`
    /// there runs a command.
    pub option_of: Option<String>,
}

/// Where each interpolation of `text` lands, in the order they appear.
pub fn places(text: &Text) -> Vec<Place> {
    let mut tokens = Vec::new();
    let mut count = 0;
    for part in &text.parts {
        match part {
            TextPart::Literal(literal) => tokens.extend(literal.chars().map(Tok::Char)),
            TextPart::Interpolation(_) => {
                tokens.push(Tok::Value(count));
                count += 1;
            }
        }
    }
    let mut places = vec![
        Place {
            quoting: Quoting::Bare,
            reparsed: Vec::new(),
            option_of: None,
        };
        count
    ];
    analyse(&tokens, &mut places, None, 0);
    places
}

/// How many shells deep the analysis follows text parsed again.
const MAX_DEPTH: usize = 4;

/// Reads one script: records where each value stands in it (`by` names
/// what parses this script, `None` for the shell rbx starts), then reads
/// every text this script hands to another shell the same way.
fn analyse(tokens: &[Tok], places: &mut [Place], by: Option<&str>, depth: usize) {
    let scanned = Scanner::default().scan(tokens);
    for (value, quoting) in scanned.values {
        let Some(place) = places.get_mut(value) else {
            continue;
        };
        match by {
            None => place.quoting = quoting,
            Some(by) => place.reparsed.push(Reparse {
                by: by.to_string(),
                quoting,
            }),
        }
    }
    for (value, command) in scanned.options {
        if let Some(place) = places.get_mut(value) {
            place.option_of.get_or_insert(command);
        }
    }
    if depth < MAX_DEPTH {
        for (inner_by, inner) in scanned.inner {
            analyse(&inner, places, Some(&inner_by), depth + 1);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Char(char),
    /// The n-th interpolation of the command.
    Value(usize),
}

/// What a scan of one script found.
#[derive(Debug, Default)]
struct Scanned {
    values: Vec<(usize, Quoting)>,
    options: Vec<(usize, String)>,
    /// Texts handed to another shell, with what parses them.
    inner: Vec<(String, Vec<Tok>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// A list of commands: the script itself (`None`), `$( … )` (`')'`)
    /// or a backquoted command (`` '`' ``). Each has a `Commands` state.
    Commands(Option<char>),
    Double,
    Single,
    /// `${ … }`.
    Param,
}

/// A word of a command as the command receives it: quotes removed, each
/// value in place.
#[derive(Debug, Clone, Default)]
struct Word {
    toks: Vec<Tok>,
    /// Quotes or a backslash were part of it (a quoted here-document
    /// delimiter).
    quoted: bool,
}

impl Word {
    /// The word's text when it holds no value.
    fn literal(&self) -> Option<String> {
        self.toks
            .iter()
            .map(|t| match t {
                Tok::Char(c) => Some(*c),
                Tok::Value(_) => None,
            })
            .collect()
    }

    fn starts_with_value(&self) -> bool {
        matches!(self.toks.first(), Some(Tok::Value(_)))
    }

    fn values(&self) -> impl Iterator<Item = usize> + '_ {
        self.toks.iter().filter_map(|t| match t {
            Tok::Value(v) => Some(*v),
            Tok::Char(_) => None,
        })
    }

    /// `NAME=…`: a variable assignment before a command's name.
    fn is_assignment(&self) -> bool {
        let mut chars = self.toks.iter().map_while(|t| match t {
            Tok::Char(c) => Some(*c),
            Tok::Value(_) => None,
        });
        match chars.next() {
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
            _ => return false,
        }
        for c in chars {
            if c == '=' {
                return true;
            }
            if !(c.is_ascii_alphanumeric() || c == '_') {
                return false;
            }
        }
        false
    }
}

/// A simple command: its words (redirections left out) and the
/// here-documents and here-strings that feed its standard input.
#[derive(Debug, Default)]
struct Command {
    words: Vec<Word>,
    heredocs: Vec<usize>,
    herestrings: Vec<Word>,
}

/// What comes after a redirection operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Word,
    /// A redirection's target (a file, a descriptor).
    Target,
    /// A here-document's delimiter; `true` for `<<-`, which strips tabs.
    Delimiter(bool),
    HereString,
}

/// The state of one list of commands.
#[derive(Debug)]
struct Commands {
    pipeline: Vec<Command>,
    command: Command,
    word: Option<Word>,
    next: Next,
    comment: bool,
}

impl Default for Commands {
    fn default() -> Self {
        Commands {
            pipeline: Vec::new(),
            command: Command::default(),
            word: None,
            next: Next::Word,
            comment: false,
        }
    }
}

#[derive(Debug)]
struct Heredoc {
    delimiter: String,
    quoted: bool,
    strip_tabs: bool,
    /// What parses the body again, when the command it feeds is a shell.
    by: Option<String>,
}

#[derive(Debug, Default)]
struct Scanner {
    frames: Vec<Frame>,
    commands: Vec<Commands>,
    heredocs: Vec<Heredoc>,
    pending: VecDeque<usize>,
    found: Scanned,
}

impl Scanner {
    fn scan(mut self, tokens: &[Tok]) -> Scanned {
        self.frames.push(Frame::Commands(None));
        self.commands.push(Commands::default());
        let mut i = 0;
        while i < tokens.len() {
            i = self.step(tokens, i);
        }
        while let Some(frame) = self.frames.pop() {
            if let Frame::Commands(_) = frame {
                self.close_commands();
            }
        }
        self.found
    }

    fn top(&self) -> Frame {
        self.frames.last().copied().unwrap_or(Frame::Commands(None))
    }

    /// Where a value stands given the frames around it.
    fn quoting(&self) -> Quoting {
        for frame in self.frames.iter().rev() {
            match frame {
                Frame::Param => continue,
                Frame::Double => return Quoting::Double,
                Frame::Single => return Quoting::Single,
                Frame::Commands(_) => {
                    return if self.commands.last().is_some_and(|c| c.comment) {
                        Quoting::Comment
                    } else {
                        Quoting::Bare
                    };
                }
            }
        }
        Quoting::Bare
    }

    fn word(&mut self) -> Option<&mut Word> {
        let commands = self.commands.last_mut()?;
        Some(commands.word.get_or_insert_with(Word::default))
    }

    fn push(&mut self, tok: Tok) {
        if let Some(word) = self.word() {
            word.toks.push(tok);
        }
    }

    fn mark_quoted(&mut self) {
        if let Some(word) = self.word() {
            word.quoted = true;
        }
    }

    fn value(&mut self, value: usize, quoting: Quoting) {
        self.found.values.push((value, quoting));
        self.push(Tok::Value(value));
    }

    /// Handles the token at `i`; returns where to go on.
    fn step(&mut self, tokens: &[Tok], i: usize) -> usize {
        let peek = |k: usize| match tokens.get(k) {
            Some(Tok::Char(c)) => Some(*c),
            _ => None,
        };
        let tok = tokens[i];
        match self.top() {
            Frame::Single => match tok {
                Tok::Char('\'') => {
                    self.frames.pop();
                }
                Tok::Value(v) => self.value(v, Quoting::Single),
                Tok::Char(c) => self.push(Tok::Char(c)),
            },
            Frame::Double => match tok {
                Tok::Char('"') => {
                    self.frames.pop();
                }
                Tok::Char('\\') => {
                    match tokens.get(i + 1) {
                        Some(Tok::Char(c @ ('$' | '`' | '"' | '\\'))) => self.push(Tok::Char(*c)),
                        Some(Tok::Char('\n')) => {}
                        Some(Tok::Value(v)) => {
                            self.push(Tok::Char('\\'));
                            self.value(*v, Quoting::Escaped);
                        }
                        Some(Tok::Char(c)) => {
                            self.push(Tok::Char('\\'));
                            self.push(Tok::Char(*c));
                        }
                        None => self.push(Tok::Char('\\')),
                    }
                    return i + 2;
                }
                Tok::Char('$') if peek(i + 1) == Some('(') => {
                    self.open_commands(')');
                    return i + 2;
                }
                Tok::Char('$') if peek(i + 1) == Some('{') => {
                    self.frames.push(Frame::Param);
                    return i + 2;
                }
                Tok::Char('`') => self.open_commands('`'),
                Tok::Value(v) => self.value(v, Quoting::Double),
                Tok::Char(c) => self.push(Tok::Char(c)),
            },
            Frame::Param => match tok {
                Tok::Char('}') => {
                    self.frames.pop();
                }
                Tok::Char('"') => self.frames.push(Frame::Double),
                Tok::Char('\'') => self.frames.push(Frame::Single),
                Tok::Value(v) => {
                    let quoting = self.quoting();
                    self.value(v, quoting);
                }
                Tok::Char(_) => {}
            },
            Frame::Commands(closer) => return self.command_step(tokens, i, closer),
        }
        i + 1
    }

    fn open_commands(&mut self, closer: char) {
        self.word();
        self.frames.push(Frame::Commands(Some(closer)));
        self.commands.push(Commands::default());
    }

    /// Ends the innermost list of commands (at its closer or at the end of
    /// the text); the word around it goes on.
    fn close_commands(&mut self) {
        self.end_word();
        self.end_pipeline();
        self.commands.pop();
    }

    fn command_step(&mut self, tokens: &[Tok], i: usize, closer: Option<char>) -> usize {
        let peek = |k: usize| match tokens.get(k) {
            Some(Tok::Char(c)) => Some(*c),
            _ => None,
        };
        let in_comment = self.commands.last().is_some_and(|c| c.comment);
        if in_comment {
            match tokens[i] {
                Tok::Char('\n') => {
                    if let Some(commands) = self.commands.last_mut() {
                        commands.comment = false;
                    }
                    return self.newline(tokens, i);
                }
                Tok::Value(v) => self.found.values.push((v, Quoting::Comment)),
                Tok::Char(_) => {}
            }
            return i + 1;
        }
        let c = match tokens[i] {
            Tok::Value(v) => {
                self.value(v, Quoting::Bare);
                return i + 1;
            }
            Tok::Char(c) => c,
        };
        match c {
            ' ' | '\t' => self.end_word(),
            '\n' => return self.newline(tokens, i),
            ';' => {
                self.end_word();
                self.end_pipeline();
                if peek(i + 1) == Some(';') {
                    return i + 2;
                }
            }
            '&' if peek(i + 1) == Some('>') => {
                self.end_word();
                self.redirect(Next::Target);
                return i + if peek(i + 2) == Some('>') { 3 } else { 2 };
            }
            '&' => {
                self.end_word();
                self.end_pipeline();
                if peek(i + 1) == Some('&') {
                    return i + 2;
                }
            }
            '|' if peek(i + 1) == Some('|') => {
                self.end_word();
                self.end_pipeline();
                return i + 2;
            }
            '|' => {
                self.end_word();
                self.end_command();
                if peek(i + 1) == Some('&') {
                    return i + 2;
                }
            }
            ')' if closer == Some(')') => {
                self.frames.pop();
                self.close_commands();
            }
            '`' if closer == Some('`') => {
                self.frames.pop();
                self.close_commands();
            }
            '`' => self.open_commands('`'),
            '(' | ')' => {
                self.end_word();
                self.end_pipeline();
            }
            '<' | '>' => return self.redirection(tokens, i),
            '\\' => {
                match tokens.get(i + 1) {
                    Some(Tok::Char('\n')) => {}
                    Some(Tok::Char(next)) => {
                        self.mark_quoted();
                        self.push(Tok::Char(*next));
                    }
                    Some(Tok::Value(v)) => self.value(*v, Quoting::Escaped),
                    None => {}
                }
                return i + 2;
            }
            '#' if self.commands.last().is_some_and(|c| c.word.is_none()) => {
                if let Some(commands) = self.commands.last_mut() {
                    commands.comment = true;
                }
            }
            '\'' => {
                self.mark_quoted();
                self.frames.push(Frame::Single);
            }
            '"' => {
                self.mark_quoted();
                self.frames.push(Frame::Double);
            }
            '$' if peek(i + 1) == Some('(') => {
                self.open_commands(')');
                return i + 2;
            }
            '$' if peek(i + 1) == Some('{') => {
                self.word();
                self.frames.push(Frame::Param);
                return i + 2;
            }
            '$' if peek(i + 1) == Some('\'') => {
                self.mark_quoted();
                self.frames.push(Frame::Single);
                return i + 2;
            }
            other => self.push(Tok::Char(other)),
        }
        i + 1
    }

    /// A redirection operator at `i`: what its next word is.
    fn redirection(&mut self, tokens: &[Tok], i: usize) -> usize {
        let peek = |k: usize| match tokens.get(k) {
            Some(Tok::Char(c)) => Some(*c),
            _ => None,
        };
        // `2>`: the digits before the operator name a descriptor.
        let descriptor = self
            .commands
            .last()
            .and_then(|c| c.word.as_ref())
            .and_then(Word::literal)
            .is_some_and(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_digit()));
        if descriptor {
            if let Some(commands) = self.commands.last_mut() {
                commands.word = None;
            }
        } else {
            self.end_word();
        }
        let (next, length) = match (tokens[i], peek(i + 1), peek(i + 2)) {
            (Tok::Char('<'), Some('<'), Some('<')) => (Next::HereString, 3),
            (Tok::Char('<'), Some('<'), Some('-')) => (Next::Delimiter(true), 3),
            (Tok::Char('<'), Some('<'), _) => (Next::Delimiter(false), 2),
            (_, Some('>' | '&' | '|'), _) => (Next::Target, 2),
            _ => (Next::Target, 1),
        };
        self.redirect(next);
        i + length
    }

    fn redirect(&mut self, next: Next) {
        if let Some(commands) = self.commands.last_mut() {
            commands.next = next;
        }
    }

    fn end_word(&mut self) {
        let Some(commands) = self.commands.last_mut() else {
            return;
        };
        let Some(word) = commands.word.take() else {
            return;
        };
        match std::mem::replace(&mut commands.next, Next::Word) {
            Next::Word => commands.command.words.push(word),
            Next::Target => {}
            Next::HereString => commands.command.herestrings.push(word),
            Next::Delimiter(strip_tabs) => {
                let index = self.heredocs.len();
                self.heredocs.push(Heredoc {
                    delimiter: word
                        .toks
                        .iter()
                        .filter_map(|t| match t {
                            Tok::Char(c) => Some(*c),
                            Tok::Value(_) => None,
                        })
                        .collect(),
                    quoted: word.quoted,
                    strip_tabs,
                    by: None,
                });
                commands.command.heredocs.push(index);
                self.pending.push_back(index);
            }
        }
    }

    fn end_command(&mut self) {
        let Some(commands) = self.commands.last_mut() else {
            return;
        };
        let command = std::mem::take(&mut commands.command);
        if !command.words.is_empty() || !command.heredocs.is_empty() {
            commands.pipeline.push(command);
        }
    }

    fn end_pipeline(&mut self) {
        self.end_command();
        let Some(commands) = self.commands.last_mut() else {
            return;
        };
        let pipeline = std::mem::take(&mut commands.pipeline);
        self.pipeline(&pipeline);
    }

    /// A newline at `i`: the end of a pipeline, then the bodies of the
    /// here-documents opened on the line.
    fn newline(&mut self, tokens: &[Tok], i: usize) -> usize {
        self.end_word();
        self.end_pipeline();
        let mut at = i + 1;
        while let Some(index) = self.pending.pop_front() {
            at = self.heredoc_body(tokens, at, index);
        }
        at
    }

    /// Reads a here-document's body from `at` up to its delimiter line;
    /// returns where the text goes on.
    fn heredoc_body(&mut self, tokens: &[Tok], mut at: usize, index: usize) -> usize {
        let Some(heredoc) = self.heredocs.get(index) else {
            return at;
        };
        let (quoting, strip_tabs, by) = (
            if heredoc.quoted {
                Quoting::QuotedHeredoc
            } else {
                Quoting::Heredoc
            },
            heredoc.strip_tabs,
            heredoc.by.clone(),
        );
        let delimiter: Vec<Tok> = heredoc.delimiter.chars().map(Tok::Char).collect();
        let mut body = Vec::new();
        while at < tokens.len() {
            let end = tokens[at..]
                .iter()
                .position(|t| *t == Tok::Char('\n'))
                .map_or(tokens.len(), |p| at + p);
            let mut line = &tokens[at..end];
            if strip_tabs {
                while line.first() == Some(&Tok::Char('\t')) {
                    line = &line[1..];
                }
            }
            let next = (end + 1).min(tokens.len());
            if line == delimiter.as_slice() {
                at = next;
                break;
            }
            for tok in line {
                if let Tok::Value(v) = tok {
                    self.found.values.push((*v, quoting));
                }
            }
            body.extend_from_slice(line);
            body.push(Tok::Char('\n'));
            at = next;
        }
        if let Some(by) = by {
            self.found.inner.push((by, body));
        }
        at
    }

    /// What a finished pipeline hands to other shells.
    fn pipeline(&mut self, pipeline: &[Command]) {
        let readings: Vec<Reading> = pipeline.iter().map(|c| read_command(&c.words)).collect();
        for (k, command) in pipeline.iter().enumerate() {
            let reading = &readings[k];
            for (words, by) in &reading.reparsed {
                let text = join(words.iter().filter_map(|&w| command.words.get(w)));
                self.found.inner.push((by.clone(), text));
            }
            for (word, by) in &reading.options {
                if let Some(value) = command.words.get(*word).and_then(|w| w.values().next()) {
                    self.found.options.push((value, by.clone()));
                }
            }
            // A later command of the pipeline that reads a script from its
            // standard input runs what this one prints.
            let downstream = readings[k + 1..]
                .iter()
                .find_map(|r| r.stdin_script.clone())
                .map(|by| format!("{by} (through a pipe)"));
            if let Some(by) = &downstream {
                let after_name = reading.name.map_or(0, |n| n + 1);
                let text = join(command.words.iter().skip(after_name));
                self.found.inner.push((by.clone(), text));
            }
            let stdin = reading.stdin_script.clone().or(downstream);
            if let Some(by) = stdin {
                for &heredoc in &command.heredocs {
                    if let Some(heredoc) = self.heredocs.get_mut(heredoc) {
                        heredoc.by = Some(by.clone());
                    }
                }
                for word in &command.herestrings {
                    self.found.inner.push((by.clone(), word.toks.clone()));
                }
            }
        }
    }
}

/// Words joined with spaces, as `ssh` and `eval` join their arguments.
fn join<'w>(words: impl Iterator<Item = &'w Word>) -> Vec<Tok> {
    let mut out = Vec::new();
    for (n, word) in words.enumerate() {
        if n > 0 {
            out.push(Tok::Char(' '));
        }
        out.extend_from_slice(&word.toks);
    }
    out
}

/// What one simple command does with its words.
#[derive(Debug, Default)]
struct Reading {
    /// The index of the word that names the command run.
    name: Option<usize>,
    /// Words handed to another shell as code, with what parses them.
    reparsed: Vec<(Vec<usize>, String)>,
    /// The command reads a script from its standard input: a shell with no
    /// script named, or `ssh` with no remote command.
    stdin_script: Option<String>,
    /// Words a command reads options from, where a value starts them.
    options: Vec<(usize, String)>,
}

/// Shells, by the name they are run as.
const SHELLS: [&str; 7] = ["sh", "bash", "dash", "zsh", "ksh", "ash", "mksh"];

/// Commands that run the rest of their words as another command.
const WRAPPERS: [&str; 22] = [
    "sudo", "doas", "env", "nice", "nohup", "time", "timeout", "exec", "command", "stdbuf",
    "xargs", "setsid", "flock", "ionice", "chroot", "nsenter", "unshare", "kubectl", "docker",
    "podman", "find", "builtin",
];

/// Words that may come before a command's name.
const RESERVED: [&str; 13] = [
    "!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "time",
];

fn read_command(words: &[Word]) -> Reading {
    let mut reading = Reading::default();
    let mut k = 0;
    while let Some(word) = words.get(k) {
        let reserved = word
            .literal()
            .is_some_and(|w| RESERVED.contains(&w.as_str()));
        if reserved || word.is_assignment() {
            k += 1;
        } else {
            break;
        }
    }
    read_from(words, k, &mut reading);
    reading
}

fn basename(word: &Word) -> Option<String> {
    let text = word.literal()?;
    Some(text.rsplit('/').next().unwrap_or_default().to_string())
}

/// Reads the command named by word `k`.
fn read_from(words: &[Word], k: usize, reading: &mut Reading) {
    let Some(name) = words.get(k).and_then(basename) else {
        return;
    };
    reading.name.get_or_insert(k);
    let option = |j: usize| {
        words
            .get(j)
            .and_then(Word::literal)
            .filter(|w| w.len() > 1 && w.starts_with('-'))
    };
    match name.as_str() {
        "eval" => reading
            .reparsed
            .push(((k + 1..words.len()).collect(), "eval".to_string())),
        shell if SHELLS.contains(&shell) => {
            let mut j = k + 1;
            let mut from_stdin = false;
            while let Some(flag) = option(j) {
                j += 1;
                if flag == "--" {
                    break;
                }
                if flag.starts_with("--") {
                    continue;
                }
                if flag.contains('c') {
                    if j < words.len() {
                        reading.reparsed.push((vec![j], format!("{shell} -c")));
                    }
                    return;
                }
                if flag.contains('s') {
                    from_stdin = true;
                    break;
                }
                // `-o pipefail`, `-O extglob`: the option takes the next word.
                if flag == "-o" || flag == "-O" {
                    j += 1;
                }
            }
            // With no script file named, the script comes on standard input.
            if from_stdin || j >= words.len() {
                reading.stdin_script = Some(shell.to_string());
            }
        }
        "su" | "runuser" => {
            for j in k + 1..words.len() {
                let flag = words[j].literal().unwrap_or_default();
                if flag == "-c" || flag == "--command" {
                    if j + 1 < words.len() {
                        reading.reparsed.push((vec![j + 1], format!("{name} -c")));
                    }
                    return;
                }
            }
            reading.stdin_script = Some(name);
        }
        "ssh" => read_ssh(words, k, reading),
        "watch" => {
            let mut j = k + 1;
            while let Some(flag) = option(j) {
                match flag.as_str() {
                    "-x" | "--exec" => return,
                    "-n" | "--interval" => j += 2,
                    _ => j += 1,
                }
            }
            reading
                .reparsed
                .push(((j..words.len()).collect(), "watch".to_string()));
        }
        wrapper if WRAPPERS.contains(&wrapper) => {
            let known = |w: &Word| {
                basename(w).is_some_and(|n| {
                    n == "eval"
                        || n == "ssh"
                        || n == "su"
                        || n == "runuser"
                        || n == "watch"
                        || SHELLS.contains(&n.as_str())
                        || (WRAPPERS.contains(&n.as_str()) && n != wrapper)
                })
            };
            if let Some(j) = (k + 1..words.len()).find(|&j| known(&words[j])) {
                read_from(words, j, reading);
            }
        }
        _ => {}
    }
}

/// `ssh [options] [--] destination [command …]`.
fn read_ssh(words: &[Word], k: usize, reading: &mut Reading) {
    // The options that take an argument (OpenSSH's getopt string).
    const WITH_ARGUMENT: &str = "BbcDEeFIiJLlmOoPpQRSWw";
    let mut j = k + 1;
    let mut ended = false;
    while let Some(word) = words.get(j) {
        let text = word.literal();
        match text.as_deref() {
            Some("--") if !ended => {
                ended = true;
                j += 1;
            }
            Some(flag) if !ended && flag.len() > 1 && flag.starts_with('-') => {
                let letters: Vec<char> = flag.chars().skip(1).collect();
                for (n, letter) in letters.iter().enumerate() {
                    if WITH_ARGUMENT.contains(*letter) {
                        if n + 1 == letters.len() {
                            j += 1;
                        }
                        break;
                    }
                }
                j += 1;
            }
            _ => break,
        }
    }
    let Some(destination) = words.get(j) else {
        return;
    };
    if !ended && destination.starts_with_value() {
        reading.options.push((j, "ssh".to_string()));
    }
    if j + 1 >= words.len() {
        reading.stdin_script = Some("ssh".to_string());
        return;
    }
    reading
        .reparsed
        .push(((j + 1..words.len()).collect(), "ssh".to_string()));
    // `ssh host bash`: the remote command reads its script from standard
    // input, so what is piped in is parsed there too. The remote command is
    // text for a shell, so `'bash -s'` is two words there.
    let remote: Vec<Word> = join(words[j + 1..].iter())
        .split(|t| matches!(t, Tok::Char(' ' | '\t' | '\n')))
        .filter(|w| !w.is_empty())
        .map(|toks| Word {
            toks: toks.to_vec(),
            quoted: false,
        })
        .collect();
    if read_command(&remote).stdin_script.is_some() {
        reading.stdin_script = Some("ssh".to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbx_syntax::ast::{Interpolation, Path};
    use rbx_syntax::span::Span;

    /// `text` with each `@` standing for an interpolation.
    fn text(command: &str) -> Text {
        let mut parts = Vec::new();
        for (n, piece) in command.split('@').enumerate() {
            if n > 0 {
                parts.push(TextPart::Interpolation(Interpolation {
                    path: Path {
                        segments: Vec::new(),
                        span: Span::default(),
                    },
                    filters: Vec::new(),
                }));
            }
            parts.push(TextPart::Literal(piece.to_string()));
        }
        Text {
            parts,
            block: false,
            span: Span::default(),
        }
    }

    /// The first interpolation's quoting, then each reparse as `by:quoting`.
    fn check(command: &str, expected: &str) {
        let places = places(&text(command));
        let place = &places[0];
        let mut got = format!("{:?}", place.quoting);
        for reparse in &place.reparsed {
            got.push_str(&format!(" {}:{:?}", reparse.by, reparse.quoting));
        }
        if let Some(of) = &place.option_of {
            got.push_str(&format!(" option:{of}"));
        }
        assert_eq!(got, expected, "{command}");
    }

    #[test]
    fn quotes_and_words() {
        check("echo @", "Bare");
        check("echo \"a @ b\"", "Double");
        check("echo 'a @ b'", "Single");
        check("echo 'it'\\''s' @", "Bare");
        check("echo \"a 'b' @\"", "Double");
        check("echo \\@", "Escaped");
        check("echo \"\\@\"", "Escaped");
        check("echo \"\\\"\" @", "Bare");
        check("echo a # @", "Comment");
        check("echo a#@", "Bare");
        check("echo $'x' @", "Bare");
    }

    #[test]
    fn substitutions_open_a_new_command() {
        check("echo \"$(cat @)\"", "Bare");
        check("echo \"$(echo \"@\")\"", "Double");
        check("a=`echo @`", "Bare");
        check("echo \"${x:-@}\"", "Double");
        check("echo ${x:-@}", "Bare");
        check("x=$(ssh h cat @)", "Bare ssh:Bare");
    }

    #[test]
    fn here_documents() {
        check("cat <<EOF\na @ b\nEOF\n", "Heredoc");
        check("cat <<'EOF'\na @ b\nEOF\n", "QuotedHeredoc");
        check("cat <<\"EOF\" > f\n@\nEOF", "QuotedHeredoc");
        check("cat <<\\EOF\n@\nEOF", "QuotedHeredoc");
        check("cat <<-EOF\n\t@\n\tEOF\necho", "Heredoc");
        check("cat <<A <<B\nx\nA\n@\nB\n", "Heredoc");
        check("cat <<EOF\nEOF\necho @", "Bare");
        check("sh <<EOF\necho @\nEOF\n", "Heredoc sh:Bare");
        check("ssh h <<EOF\necho \"@\"\nEOF\n", "Heredoc ssh:Double");
        check(
            "ssh h sudo bash -s <<EOF\necho @\nEOF\n",
            "Heredoc ssh:Bare",
        );
        check("ssh h 'cat > f' <<EOF\n@\nEOF\n", "Heredoc");
        check(
            "cat <<EOF | ssh h\n@\nEOF\n",
            "Heredoc ssh (through a pipe):Bare",
        );
    }

    #[test]
    fn shells_that_parse_again() {
        check("eval echo @", "Bare eval:Bare");
        check("eval \"echo '@'\"", "Double eval:Single");
        check("sh -c 'echo @'", "Single sh -c:Bare");
        check("bash -ec \"echo \\\"@\\\"\"", "Double bash -c:Double");
        check("sh -c 'echo \"$1\"' sh @", "Bare");
        check("sh script.sh @", "Bare");
        check("sudo -u root sh -c @", "Bare sh -c:Bare");
        check("kubectl exec pod -- sh -c \"ls @\"", "Double sh -c:Bare");
        check("docker exec ctr bash -lc 'ls @'", "Single bash -c:Bare");
        check("xargs -n1 sh -c 'echo @'", "Single sh -c:Bare");
        check("su - postgres -c \"psql @\"", "Double su -c:Bare");
        check("watch -n 5 ls @", "Bare watch:Bare");
        check("watch -x ls @", "Bare");
        check("echo @ | sh", "Bare sh (through a pipe):Bare");
        check("echo @ | grep x", "Bare");
        check("sh <<< @", "Bare sh:Bare");
        check("X=1 eval @", "Bare eval:Bare");
        check("if eval @; then :; fi", "Bare eval:Bare");
        check("echo eval @", "Bare");
    }

    #[test]
    fn ssh_remote_commands_and_destinations() {
        check("ssh host uptime @", "Bare ssh:Bare");
        check("ssh @ uptime", "Bare option:ssh");
        check("ssh -p 22 -i key @ uptime", "Bare option:ssh");
        check("ssh -- @ uptime", "Bare");
        check("ssh -p22 -oBatchMode=yes user@@ uptime", "Bare");
        check("ssh -p @ host uptime", "Bare");
        check("ssh host \"systemctl restart @\"", "Double ssh:Bare");
        check("ssh host 'systemctl restart @'", "Single ssh:Bare");
        check("ssh host \"echo '@'\"", "Double ssh:Single");
        check("ssh a \"ssh b 'echo @'\"", "Double ssh:Single ssh:Bare");
        check(
            "ssh host sh -c \"'echo @'\"",
            "Double ssh:Single sh -c:Bare",
        );
        check("ssh h 'bash -s' <<EOF\n@\nEOF\n", "Heredoc ssh:Bare");
        check("ssh host cmd 2>/dev/null @", "Bare ssh:Bare");
        check("timeout 10 ssh host ls @", "Bare ssh:Bare");
        check("scp @ host:/tmp", "Bare");
    }

    #[test]
    fn redirections_are_not_arguments() {
        check("ssh host uptime > @", "Bare");
        check("ssh host uptime 2> @", "Bare");
        check("echo x >@", "Bare");
    }
}
