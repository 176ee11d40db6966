{#
  The `default__` of a macro that has only a warehouse-specific implementation: stops compilation with a message
  that names the macro and the adapter, so a port to another warehouse fails early and says what to add.
#}
{% macro unsupported_adapter(macro_name, hint=none) -%}
    {{ exceptions.raise_compiler_error(
        macro_name ~ " is not supported on adapter " ~ adapter.type() ~ "; add a " ~ adapter.type() ~ "__"
        ~ macro_name ~ " macro in dbt_project/macros/cross_db/" ~ (" (" ~ hint ~ ")" if hint else "")
    ) }}
{%- endmacro %}
