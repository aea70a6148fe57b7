//! bash's `$((…))` integer arithmetic, the part scripts and bots use:
//! decimal numbers, variables, `+ - * / %`, unary signs and parentheses,
//! on 64-bit integers that wrap as bash's do.
//!
//! Bounded: the expression comes from one command line, and nesting past
//! [`MAX_NESTING`] is refused rather than recursed into.

/// Deepest parenthesis/unary nesting evaluated.
const MAX_NESTING: usize = 64;

/// The value of `expr`, with names resolved by `var` (an unset or
/// non-numeric variable counts as 0, as in bash); `None` when bash would
/// report an error (syntax, division by zero).
pub fn eval(expr: &str, var: &dyn Fn(&str) -> String) -> Option<i64> {
    let tokens = tokenize(expr, var)?;
    let mut p = Parser { tokens, pos: 0 };
    let v = p.sum(0)?;
    (p.pos == p.tokens.len()).then_some(v)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok {
    Num(i64),
    Op(char),
}

fn tokenize(expr: &str, var: &dyn Fn(&str) -> String) -> Option<Vec<Tok>> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Tok::Num(text.parse().ok()?));
        } else if c == '$' || c.is_ascii_alphabetic() || c == '_' {
            if c == '$' {
                i += 1;
            }
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            if start == i {
                return None;
            }
            let name: String = chars[start..i].iter().collect();
            out.push(Tok::Num(var(&name).trim().parse().unwrap_or(0)));
        } else if "+-*/%()".contains(c) {
            out.push(Tok::Op(c));
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<Tok> {
        self.tokens.get(self.pos).copied()
    }

    fn sum(&mut self, depth: usize) -> Option<i64> {
        let mut v = self.product(depth)?;
        while let Some(Tok::Op(op @ ('+' | '-'))) = self.peek() {
            self.pos += 1;
            let r = self.product(depth)?;
            v = if op == '+' {
                v.wrapping_add(r)
            } else {
                v.wrapping_sub(r)
            };
        }
        Some(v)
    }

    fn product(&mut self, depth: usize) -> Option<i64> {
        let mut v = self.unary(depth)?;
        while let Some(Tok::Op(op @ ('*' | '/' | '%'))) = self.peek() {
            self.pos += 1;
            let r = self.unary(depth)?;
            v = match op {
                '*' => v.wrapping_mul(r),
                _ if r == 0 => return None,
                '/' => v.wrapping_div(r),
                _ => v.wrapping_rem(r),
            };
        }
        Some(v)
    }

    fn unary(&mut self, depth: usize) -> Option<i64> {
        if depth > MAX_NESTING {
            return None;
        }
        match self.peek()? {
            Tok::Op('-') => {
                self.pos += 1;
                Some(self.unary(depth + 1)?.wrapping_neg())
            }
            Tok::Op('+') => {
                self.pos += 1;
                self.unary(depth + 1)
            }
            Tok::Op('(') => {
                self.pos += 1;
                let v = self.sum(depth + 1)?;
                (self.peek() == Some(Tok::Op(')'))).then_some(())?;
                self.pos += 1;
                Some(v)
            }
            Tok::Num(n) => {
                self.pos += 1;
                Some(n)
            }
            Tok::Op(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn calc(e: &str) -> Option<i64> {
        eval(e, &|name| {
            if name == "N" {
                "5".into()
            } else {
                String::new()
            }
        })
    }

    #[test]
    fn evaluates_like_bash() {
        assert_eq!(calc("6*7"), Some(42));
        assert_eq!(calc(" 1 + 2 * 3 "), Some(7));
        assert_eq!(calc("(1+2)*3"), Some(9));
        assert_eq!(calc("-7/2"), Some(-3));
        assert_eq!(calc("7%3"), Some(1));
        assert_eq!(calc("N*2+$N"), Some(15));
        assert_eq!(calc("UNSET+1"), Some(1));
        assert_eq!(calc("9223372036854775807+1"), Some(i64::MIN));
        assert_eq!(calc("1/0"), None);
        assert_eq!(calc("1+"), None);
        assert_eq!(calc("(1"), None);
        assert_eq!(calc("1 ? 2 : 3"), None);
    }

    proptest! {
        #[test]
        fn never_panics(e in "[-+*/%() 0-9a-z$]{0,200}") {
            let _ = calc(&e);
        }
    }
}
