{#
  Funnel conversion per funnel, entry day, breakdown and step (from funnel_steps).
  users: attempts of that entry day reaching the step (one attempt per user and day, so also distinct users);
  conversion_from_first = users / users at step 1; conversion_from_previous = users / users at step k-1
  (1 at step 1); drop_off_users = users at step k-1 - users at step k (0 at step 1);
  median_seconds_from_entry: median time from the step-1 event to reaching the step, over users reaching it.
  Breakdowns are user properties from dim_users (current values); a missing value is 'unknown'. The
  breakdown 'all' has the single value 'all'. Every step of a funnel has a row (users 0 when none reached it).
  Add a breakdown by adding an entry to `breakdowns` below.
#}
{{ config(materialized='table', indexes=[{'columns': ['funnel_name', 'entry_date']}]) }}

{%- set breakdowns = [
    ('role', 'role'),
    ('experience_level', 'experience_level'),
    ('channel', 'acquisition_channel'),
    ('platform', 'platform'),
] %}

with step_rows as (
    select
        s.funnel_name,
        s.entry_date,
        s.step,
        s.seconds_from_entry,
        s.is_window_complete
        {%- for name, column in breakdowns %},
        coalesce(cast(u.{{ column }} as {{ dbt.type_string() }}), 'unknown') as {{ name }}
        {%- endfor %}
    from {{ ref('funnel_steps') }} as s
    left join {{ ref('dim_users') }} as u on u.user_key = s.user_key
),

reached as (
    {%- for name in ['all'] + breakdowns | map(attribute=0) | list %}
    select
        funnel_name,
        entry_date,
        cast('{{ name }}' as {{ dbt.type_string() }}) as breakdown,
        {% if name == 'all' %}cast('all' as {{ dbt.type_string() }}){% else %}{{ name }}{% endif %} as breakdown_value,
        step,
        count(*) as users,
        {{ median('seconds_from_entry') }} as median_seconds_from_entry,
        min(case when is_window_complete then 1 else 0 end) as all_windows_complete
    from step_rows
    group by funnel_name, entry_date, step{% if name != 'all' %}, {{ name }}{% endif %}
    {{- " union all" if not loop.last }}
    {%- endfor %}
),

groups as (
    select funnel_name, entry_date, breakdown, breakdown_value, all_windows_complete
    from reached
    where step = 1
),

funnel_step_names as (
    select distinct funnel_name, step, event, property_name, property_value
    from ({{ funnel_definitions(ref('funnels')) }}) as f
),

grid as (
    select
        g.funnel_name,
        g.entry_date,
        g.breakdown,
        g.breakdown_value,
        g.all_windows_complete,
        n.step,
        n.event,
        n.property_name,
        n.property_value,
        coalesce(r.users, 0) as users,
        r.median_seconds_from_entry
    from groups as g
    inner join funnel_step_names as n on n.funnel_name = g.funnel_name
    left join reached as r
        on r.funnel_name = g.funnel_name
       and r.entry_date = g.entry_date
       and r.breakdown = g.breakdown
       and r.breakdown_value = g.breakdown_value
       and r.step = n.step
),

with_neighbours as (
    select
        grid.*,
        max(case when step = 1 then users end) over (
            partition by funnel_name, entry_date, breakdown, breakdown_value
        ) as first_step_users,
        lag(users) over (
            partition by funnel_name, entry_date, breakdown, breakdown_value order by step
        ) as previous_step_users
    from grid
)

select
    funnel_name,
    entry_date,
    breakdown,
    breakdown_value,
    step,
    event,
    property_name,
    property_value,
    users,
    first_step_users,
    coalesce(previous_step_users, users) as previous_step_users,
    {{ safe_ratio('users', 'first_step_users') }} as conversion_from_first,
    {{ safe_ratio('users', 'coalesce(previous_step_users, users)') }} as conversion_from_previous,
    coalesce(previous_step_users, users) - users as drop_off_users,
    median_seconds_from_entry,
    all_windows_complete = 1 as is_window_complete
from with_neighbours
