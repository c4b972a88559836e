//! The final table of figures.

/// One line of the table: what was measured, the figure, the goal it is held to (if any).
pub struct Row {
    pub id: &'static str,
    pub figure: String,
    pub value: String,
    pub goal: String,
}

#[derive(Default)]
pub struct Report {
    rows: Vec<Row>,
}

impl Report {
    pub fn add(
        &mut self,
        id: &'static str,
        figure: impl Into<String>,
        value: impl Into<String>,
        goal: impl Into<String>,
    ) {
        self.rows.push(Row { id, figure: figure.into(), value: value.into(), goal: goal.into() });
    }

    pub fn render(&self) -> String {
        let header = Row { id: "#", figure: "figure".into(), value: "value".into(), goal: "goal".into() };
        let rows: Vec<&Row> = std::iter::once(&header).chain(&self.rows).collect();
        let w_id = rows.iter().map(|r| r.id.len()).max().unwrap_or(0);
        let w_fig = rows.iter().map(|r| r.figure.chars().count()).max().unwrap_or(0);
        let w_val = rows.iter().map(|r| r.value.chars().count()).max().unwrap_or(0);
        let mut out = String::new();
        for (n, r) in rows.iter().enumerate() {
            let line = format!("{:<w_id$}  {:<w_fig$}  {:<w_val$}  {}", r.id, r.figure, r.value, r.goal);
            out.push_str(line.trim_end());
            out.push('\n');
            if n == 0 {
                out.push_str(&"-".repeat(w_id + w_fig + w_val + 6 + 24));
                out.push('\n');
            }
        }
        out
    }
}

/// "met" or "NOT met" after a goal.
pub fn verdict(goal: &str, met: bool) -> String {
    format!("{goal}: {}", if met { "met" } else { "NOT met" })
}

/// 12345.6 -> "12,346".
pub fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }
}
